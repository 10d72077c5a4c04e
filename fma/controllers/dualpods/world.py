"""A snapshot of everything the dual-pods controller decides from (no I/O, plain data).

Kubernetes objects are plain dicts as the API serves them; launcher instances are what
the launchers pushed; ``told_ready`` is the controller's memory of the
`become-ready` calls it made (soft state: lost on restart, and re-telling is harmless).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

from fma.controllers.dualpods import names as N
from fma.controllers.dualpods import pods as P


@dataclass(frozen=True)
class Config:
    sleeper_limit: int = 1
    host_memory_budget: int | None = None  # bytes of sleepers per node; None = no budget
    local_volume: str = ""
    launcher_port: int = 8001
    # --debug-accelerator-memory: before waking a sleeper, the requester's GPUs must hold at
    # most this many MiB (what its sleepers may hold); None = no check
    accelerator_memory_limit_mib: int | None = None


@dataclass(frozen=True)
class InstanceView:
    """One vLLM instance on a launcher, as the launcher reported it."""

    id: str
    status: str = "running"  # "running" | "stopped"
    port: int = 0
    sleeping: bool = False
    ready: bool = False
    annotations: Mapping[str, str] = field(default_factory=dict)
    last_used: float = 0.0


@dataclass
class World:
    namespace: str = "default"
    now: float = 0.0
    pods: dict[str, dict[str, Any]] = field(default_factory=dict)
    iscs: dict[str, dict[str, Any]] = field(default_factory=dict)
    lcfgs: dict[str, dict[str, Any]] = field(default_factory=dict)
    gpu_map: dict[str, dict[str, int]] | None = None
    nodes: set[str] | None = None  # None: nodes are not watched
    instances: dict[str, dict[str, InstanceView]] = field(default_factory=dict)
    told_ready: set[tuple[str, str]] = field(default_factory=set)
    config: Config = field(default_factory=Config)

    _index: "_Index | None" = field(default=None, init=False, repr=False, compare=False)
    _frozen: int = field(default=0, init=False, repr=False, compare=False)

    # ---- indexing ----------------------------------------------------------------
    @contextmanager
    def frozen(self) -> Iterator["World"]:
        """Within this block the pods are read, never changed: the views below use an
        index built once (by node, by requester UID, by binding) instead of scanning
        every pod per call. Outside it they scan, so code that changes pods in place
        between calls (the what-if simulator, tests) always sees its changes."""
        self._frozen += 1
        try:
            yield self
        finally:
            self._frozen -= 1
            if not self._frozen:
                self._index = None

    def _ix(self) -> "_Index | None":
        if not self._frozen:
            return None
        if self._index is None:
            self._index = _Index(self.pods)
        return self._index

    # ---- views -------------------------------------------------------------------
    def requesters(self, node: str | None = None) -> list[dict[str, Any]]:
        ix = self._ix()
        if ix is not None:
            return list(ix.requesters_all if node is None else ix.requesters.get(node, ()))
        out = [p for p in self.pods.values() if P.is_requester(p) and (node is None or P.node(p) == node)]
        return sorted(out, key=_requester_order)

    def providers(self, node: str | None = None) -> list[dict[str, Any]]:
        """Direct-mode providers (pods with a `nominal` annotation)."""
        ix = self._ix()
        if ix is not None:
            return list(ix.providers_all if node is None else ix.providers.get(node, ()))
        out = [p for p in self.pods.values()
               if P.is_direct_provider(p) and (node is None or P.node(p) == node)]
        return sorted(out, key=P.name)

    def launchers(self, node: str | None = None, config: str | None = None) -> list[dict[str, Any]]:
        ix = self._ix()
        if ix is not None:
            found = ix.launchers_all if node is None else ix.launchers.get(node, ())
            return [p for p in found if config is None or P.labels(p).get(N.LBL_LAUNCHER_CONFIG) == config]
        out = [p for p in self.pods.values() if P.is_launcher(p)
               and (node is None or _launcher_node(p) == node)
               and (config is None or P.labels(p).get(N.LBL_LAUNCHER_CONFIG) == config)]
        return sorted(out, key=P.name)

    def bound_to(self, requester: Mapping[str, Any]) -> dict[str, Any] | None:
        """The provider or launcher whose `requester` annotation names this requester's UID."""
        ruid = P.uid(requester)
        ix = self._ix()
        if ix is not None:
            return ix.bound.get(ruid)
        for p in self.pods.values():
            b = P.bound_to(p)
            if b is not None and b[0] == ruid and (P.is_direct_provider(p) or P.is_launcher(p)):
                return p
        return None

    def requester_by_uid(self, uid: str) -> dict[str, Any] | None:
        ix = self._ix()
        if ix is not None:
            return ix.by_uid.get(uid)
        for p in self.pods.values():
            if P.uid(p) == uid and P.is_requester(p):
                return p
        return None

    def node_gpus(self, node: str) -> Mapping[str, int] | None:
        if self.gpu_map is None:
            return None
        return self.gpu_map.get(node)

    def all_nodes(self) -> set[str]:
        found = {P.node(p) for p in self.pods.values() if P.node(p)}
        found |= {_launcher_node(p) for p in self.pods.values() if P.is_launcher(p) and _launcher_node(p)}
        return found

    def instances_of(self, launcher: Mapping[str, Any]) -> dict[str, InstanceView]:
        return self.instances.get(P.name(launcher), {})

    def iter_bound_pairs(self) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        for p in self.pods.values():
            b = P.bound_to(p)
            if b is None:
                continue
            r = self.requester_by_uid(b[0])
            if r is not None:
                yield r, p


def _launcher_node(pod: Mapping[str, Any]) -> str:
    return P.node(pod) or P.labels(pod).get(N.LBL_NODE_NAME, "")


def _requester_order(p: Mapping[str, Any]) -> tuple[str, str]:
    return P.created_ts(p), P.name(p)


class _Index:
    """One pass over the pods: every view the decisions ask for, by node and by UID.
    The same answers as the scanning views (same order; the first pod in the pods'
    order wins where two claim one requester UID)."""

    def __init__(self, pods: Mapping[str, dict[str, Any]]) -> None:
        self.requesters: dict[str, list[dict[str, Any]]] = {}
        self.providers: dict[str, list[dict[str, Any]]] = {}
        self.launchers: dict[str, list[dict[str, Any]]] = {}
        self.bound: dict[str, dict[str, Any]] = {}
        self.by_uid: dict[str, dict[str, Any]] = {}
        reqs, provs, lnchs = [], [], []
        # the pods.py predicates, inlined: this loop runs over every pod once per pass
        patch, isc, nominal, lconf, bind = (N.ANN_SERVER_PATCH, N.ANN_ISC, N.ANN_NOMINAL,
                                            N.LBL_LAUNCHER_CONFIG, N.ANN_REQUESTER)
        for p in pods.values():
            md = p.get("metadata") or {}
            ann = md.get("annotations") or {}
            requester = patch in ann or isc in ann
            if requester:
                reqs.append(p)
                self.by_uid.setdefault(str(md.get("uid") or ""), p)
            direct = not requester and nominal in ann
            launcher = lconf in (md.get("labels") or {})
            if direct:
                provs.append(p)
            if launcher:
                lnchs.append(p)
            if direct or launcher:
                raw = ann.get(bind)
                if raw:
                    self.bound.setdefault(raw.partition(" ")[0], p)
        self.requesters_all = sorted(reqs, key=_requester_order)
        self.providers_all = sorted(provs, key=P.name)
        self.launchers_all = sorted(lnchs, key=P.name)
        for p in self.requesters_all:
            self.requesters.setdefault(P.node(p), []).append(p)
        for p in self.providers_all:
            self.providers.setdefault(P.node(p), []).append(p)
        for p in self.launchers_all:
            self.launchers.setdefault(_launcher_node(p), []).append(p)


launcher_node = _launcher_node
