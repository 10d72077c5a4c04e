"""Provider-side decisions of direct mode: finalizers of departing providers, orphans,
and the sleeper limits (BEHAVIOUR.md §2 rule 7: per-GPU count with LRU deletion, and
beyond FMA a per-node host-memory byte budget)."""

from __future__ import annotations

from typing import Any, Mapping

from fma.controllers.dualpods import effects as E
from fma.controllers.dualpods import names as N
from fma.controllers.dualpods import pods as P
from fma.controllers.dualpods.decision import Decision, server_url
from fma.controllers.dualpods.direct import Claims, unbind_patch
from fma.controllers.dualpods.world import World


def provider_decisions(world: World, node: str, claims: Claims) -> list[Decision]:
    out: list[Decision] = []
    for prov in world.providers(node):
        d = _one(world, prov, claims)
        if d is not None:
            out.append(d)
    return out


def _one(world: World, prov: Mapping[str, Any], claims: Claims) -> Decision | None:
    pname = P.name(prov)
    b = P.bound_to(prov)
    owner = world.requester_by_uid(b[0]) if b else None
    if P.deleting(prov):
        if owner is not None and not P.deleting(owner):
            return None  # the requester's own decision deletes it first (rule 8)
        if N.FIN_PROVIDER in P.finalizers(prov):
            return Decision(pname, "cleanup", "provider being deleted and no live requester holds it",
                            (E.PatchMeta(pname, remove_finalizers=(N.FIN_PROVIDER,)),), "direct")
        return None
    if pname in claims.pods:
        return None
    if b is not None and owner is None:
        # bound to a requester that vanished without our finalizer (force-deleted)
        if P.failed(prov) or not P.pod_ip(prov):
            return Decision(pname, "cleanup", f"orphan provider (requester {b[1]} gone) cannot sleep",
                            (E.DeletePod(pname, "orphan that never started"),), "direct")
        if P.sleeping(prov):
            return Decision(pname, "cleanup", f"orphan sleeper (requester {b[1]} gone): unbinding",
                            (unbind_patch(prov, world.now),), "direct")
        return Decision(pname, "cleanup", f"orphan provider (requester {b[1]} gone): putting it to sleep",
                        (E.SleepAndRelease(pname, server_url(prov)),), "direct")
    if b is None:
        if P.failed(prov):
            return Decision(pname, "cleanup", "unbound provider failed", (E.DeletePod(pname, "failed"),), "direct")
        if not P.sleeping(prov):
            if not P.pod_ip(prov):
                return Decision(pname, "cleanup", "unbound provider never started",
                                (E.DeletePod(pname, "unbound and not started"),), "direct")
            return Decision(pname, "cleanup", "unbound provider is awake: putting it to sleep",
                            (E.SleepAndRelease(pname, server_url(prov)),), "direct")
    return None


def sleeper_decisions(world: World, node: str, claims: Claims) -> list[Decision]:
    """Delete least recently used sleepers past the per-GPU limit and the byte budget."""
    sleepers = [p for p in world.providers(node)
                if P.sleeping(p) and P.bound_to(p) is None and not P.deleting(p)
                and P.name(p) not in claims.pods]
    lru = sorted(sleepers, key=lambda p: (P.last_used(p), P.created_ts(p), P.name(p)))
    doomed: dict[str, str] = {}
    limit = max(0, world.config.sleeper_limit)
    per_gpu: dict[str, list[Mapping[str, Any]]] = {}
    for p in lru:
        for gpu in P.accelerators(p) or []:
            per_gpu.setdefault(gpu, []).append(p)
    for gpu in sorted(per_gpu):
        alive = [p for p in per_gpu[gpu] if P.name(p) not in doomed]
        for p in alive[: max(0, len(alive) - limit)]:
            doomed[P.name(p)] = f"GPU {gpu} has {len(alive)} sleepers, limit {limit}; least recently used"
    budget = world.config.host_memory_budget
    if budget is not None:
        kept = [p for p in lru if P.name(p) not in doomed]
        total = sum(P.sleeper_bytes(p) for p in kept)
        for p in kept:
            if total <= budget:
                break
            doomed[P.name(p)] = f"sleepers on {node} hold {total} B of host memory, budget {budget} B"
            total -= P.sleeper_bytes(p)
    out = []
    for pname, why in doomed.items():
        claims.pods.add(pname)
        out.append(Decision(pname, "evict-sleeper", why, (E.DeletePod(pname, why),), "direct"))
    return out
