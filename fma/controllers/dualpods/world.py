"""A snapshot of everything the dual-pods controller decides from (no I/O, plain data).

Kubernetes objects are plain dicts as the API serves them; launcher instances are what
the launchers pushed; ``told_ready`` is the controller's memory of the
`become-ready` calls it made (soft state: lost on restart, and re-telling is harmless).
"""

from __future__ import annotations

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

    # ---- views -------------------------------------------------------------------
    def requesters(self, node: str | None = None) -> list[dict[str, Any]]:
        out = [p for p in self.pods.values() if P.is_requester(p) and (node is None or P.node(p) == node)]
        return sorted(out, key=lambda p: (P.created_ts(p), P.name(p)))

    def providers(self, node: str | None = None) -> list[dict[str, Any]]:
        """Direct-mode providers (pods with a `nominal` annotation)."""
        out = [p for p in self.pods.values()
               if P.is_direct_provider(p) and (node is None or P.node(p) == node)]
        return sorted(out, key=P.name)

    def launchers(self, node: str | None = None, config: str | None = None) -> list[dict[str, Any]]:
        out = [p for p in self.pods.values() if P.is_launcher(p)
               and (node is None or _launcher_node(p) == node)
               and (config is None or P.labels(p).get(N.LBL_LAUNCHER_CONFIG) == config)]
        return sorted(out, key=P.name)

    def bound_to(self, requester: Mapping[str, Any]) -> dict[str, Any] | None:
        """The provider or launcher whose `requester` annotation names this requester's UID."""
        ruid = P.uid(requester)
        for p in self.pods.values():
            b = P.bound_to(p)
            if b is not None and b[0] == ruid and (P.is_direct_provider(p) or P.is_launcher(p)):
                return p
        return None

    def requester_by_uid(self, uid: str) -> dict[str, Any] | None:
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


launcher_node = _launcher_node
