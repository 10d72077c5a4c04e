"""Pure scheduling decisions: which node, and which GPU UUIDs, for a pending pod.

No I/O. The scheduler loop (``scheduler.py``) feeds it Node and Pod dicts. Rules:

* a pod's GPU demand is the sum over its containers of ``nvidia.com/gpu`` (limits, else
  requests); init containers are ignored;
* ``spec.nodeName`` pins a pod; ``spec.nodeSelector`` and required node affinity
  (``matchExpressions`` on labels, ``matchFields`` on ``metadata.name``) filter nodes;
* GPU pods go to the first fitting node in name order and get its lowest-index free GPUs
  (bin packing: deterministic, so a requester that comes back lands on the GPUs its
  sleeping provider holds, which is what makes hot starts likely);
* pods without GPUs go to the fitting node with the fewest pods (spread).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

GPU_RESOURCE = "nvidia.com/gpu"
ANN_GPUS = "local.fma.llm-d.ai/gpus"  # ours: the UUIDs the local scheduler gave a pod

Obj = Mapping[str, Any]


class Unschedulable(Exception):
    """No node fits; the message says why, per node, like the real scheduler's event."""


def _quantity_int(v: Any) -> int:
    try:
        return int(str(v))
    except ValueError as exc:
        raise ValueError(f"{GPU_RESOURCE} must be a whole number, got {v!r}") from exc


def gpu_demand(pod: Obj) -> int:
    total = 0
    for c in (pod.get("spec") or {}).get("containers") or []:
        res = c.get("resources") or {}
        q = (res.get("limits") or {}).get(GPU_RESOURCE, (res.get("requests") or {}).get(GPU_RESOURCE, 0))
        total += _quantity_int(q)
    return total


def _expr_ok(expr: Mapping[str, Any], values: Mapping[str, str]) -> bool:
    key, op, want = expr.get("key"), expr.get("operator"), list(expr.get("values") or [])
    have = values.get(key)
    if op == "In":
        return have is not None and have in want
    if op == "NotIn":
        return have is None or have not in want
    if op == "Exists":
        return have is not None
    if op == "DoesNotExist":
        return have is None
    if op in ("Gt", "Lt") and have is not None and want:
        try:
            return int(have) > int(want[0]) if op == "Gt" else int(have) < int(want[0])
        except ValueError:
            return False
    return False


def node_matches(pod: Obj, node: Obj) -> str | None:
    """None when the pod may run on the node, else the reason it may not."""
    spec = pod.get("spec") or {}
    meta = node.get("metadata") or {}
    name = meta.get("name", "")
    labels = meta.get("labels") or {}
    if spec.get("nodeName") and spec["nodeName"] != name:
        return f"pod is pinned to node {spec['nodeName']}"
    for k, v in (spec.get("nodeSelector") or {}).items():
        if labels.get(k) != v:
            return f"node selector {k}={v} does not match"
    req = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
           .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    terms = req.get("nodeSelectorTerms") or []
    if terms:
        def term_ok(t: Mapping[str, Any]) -> bool:
            return (all(_expr_ok(e, labels) for e in t.get("matchExpressions") or [])
                    and all(_expr_ok(e, {"metadata.name": name}) for e in t.get("matchFields") or []))
        if not any(term_ok(t) for t in terms):
            return "required node affinity does not match"
    return None


@dataclass
class NodeGpus:
    name: str
    node: Obj
    uuids: list[str]                       # in index order
    used: dict[str, str] = field(default_factory=dict)  # uuid -> pod key
    pods: set[str] = field(default_factory=set)          # pod keys placed here

    def free(self) -> list[str]:
        return [u for u in self.uuids if u not in self.used]


@dataclass(frozen=True)
class Placement:
    node: str
    gpus: tuple[str, ...]


class ClusterState:
    """Nodes, their GPUs and which pod holds each; mutated only by the scheduler loop."""

    def __init__(self) -> None:
        self.nodes: dict[str, NodeGpus] = {}
        self.where: dict[str, str] = {}  # pod key -> node

    def add_node(self, node: Obj, uuids: list[str]) -> None:
        name = node["metadata"]["name"]
        old = self.nodes.get(name)
        self.nodes[name] = NodeGpus(name, node, list(uuids), dict(old.used) if old else {},
                                    set(old.pods) if old else set())

    def record(self, key: str, node: str, gpus: tuple[str, ...] | list[str]) -> None:
        """A pod known to be on ``node`` holding ``gpus`` (idempotent)."""
        self.release(key)
        n = self.nodes.get(node)
        if n is None:
            return
        n.pods.add(key)
        for u in gpus:
            n.used[u] = key
        self.where[key] = node

    def release(self, key: str) -> None:
        node = self.where.pop(key, None)
        n = self.nodes.get(node or "")
        if n is None:
            return
        n.pods.discard(key)
        for u in [u for u, k in n.used.items() if k == key]:
            del n.used[u]

    def place(self, pod: Obj) -> Placement:
        """Choose a node and GPUs, or raise :class:`Unschedulable` saying why for each node."""
        want = gpu_demand(pod)
        reasons: list[str] = []
        fitting: list[NodeGpus] = []
        for name in sorted(self.nodes):
            n = self.nodes[name]
            why = node_matches(pod, n.node)
            if why is None and len(n.free()) < want:
                why = f"{len(n.free())} of {len(n.uuids)} GPUs free, pod needs {want}"
            if why:
                reasons.append(f"{name}: {why}")
            else:
                fitting.append(n)
        if not fitting:
            raise Unschedulable("; ".join(reasons) or "no nodes")
        if want > 0:
            n = fitting[0]
            return Placement(n.name, tuple(n.free()[:want]))
        n = min(fitting, key=lambda x: (len(x.pods), x.name))
        return Placement(n.name, ())
