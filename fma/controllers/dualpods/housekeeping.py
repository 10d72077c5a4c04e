"""Provider-side decisions of direct mode: finalizers of departing providers, orphans,
and the sleeper limits (BEHAVIOUR.md §2 rule 7: per-GPU count with LRU deletion, and
beyond FMA a per-node host-memory byte budget)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping

from fma.controllers.dualpods import effects as E
from fma.controllers.dualpods import names as N
from fma.controllers.dualpods import pods as P
from fma.controllers.dualpods.decision import Decision, server_url
from fma.controllers.dualpods.direct import Claims, unbind_patch
from fma.controllers.dualpods.launchermode import instance_gpus, launcher_sleepers
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
    """Delete least recently used sleepers past the per-GPU limit and the byte budget.

    The per-GPU limit counts every sleeper holding the GPU: direct providers and launcher
    instances alike (a sleeping instance holds the same host memory and the same claim on
    the GPU's next wake-up as a sleeping provider)."""
    sleepers = [p for p in world.providers(node)
                if P.sleeping(p) and P.bound_to(p) is None and not P.deleting(p)
                and P.name(p) not in claims.pods]
    # (last used, created, key, gpus, effect, mode): key is the pod, or "<launcher>/<instance id>"
    items: list[tuple[float, float, str, list[str], Any, str]] = [
        (P.last_used(p), P.created_ts(p), P.name(p), list(P.accelerators(p) or []),
         E.DeletePod(P.name(p), ""), "direct") for p in sleepers]
    items += [(inst.last_used, 0.0, f"{lname}/{inst.id}", instance_gpus(inst), eff, "launcher")
              for lname, inst, eff in launcher_sleepers(world, node, claims)]
    lru = sorted(items, key=lambda it: (it[0], it[1], it[2]))
    doomed: dict[str, str] = {}
    limit = max(0, world.config.sleeper_limit)
    per_gpu: dict[str, list[tuple]] = {}
    for it in lru:
        for gpu in it[3]:
            per_gpu.setdefault(gpu, []).append(it)
    for gpu in sorted(per_gpu):
        alive = [it for it in per_gpu[gpu] if it[2] not in doomed]
        for it in alive[: max(0, len(alive) - limit)]:
            doomed[it[2]] = f"GPU {gpu} has {len(alive)} sleepers, limit {limit}; least recently used"
    budget = world.config.host_memory_budget
    if budget is not None:
        by_name = {P.name(p): p for p in sleepers}
        kept = [it for it in lru if it[2] in by_name and it[2] not in doomed]
        total = sum(P.sleeper_bytes(by_name[it[2]]) for it in kept)
        for it in kept:
            if total <= budget:
                break
            doomed[it[2]] = f"sleepers on {node} hold {total} B of host memory, budget {budget} B"
            total -= P.sleeper_bytes(by_name[it[2]])
    out = []
    effects = {it[2]: (it[4], it[5]) for it in items}
    for key, why in doomed.items():
        eff, mode = effects[key]
        if mode == "direct":
            claims.pods.add(key)
        out.append(Decision(key, "evict-sleeper", why, (replace(eff, reason=why),), mode))
    return out
