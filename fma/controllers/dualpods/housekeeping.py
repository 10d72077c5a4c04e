"""Provider-side decisions of direct mode: finalizers of departing providers, orphans,
and the sleeper limits (BEHAVIOUR.md §2 rule 7: per-GPU count with LRU deletion, and
beyond FMA a per-node host-memory byte budget)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping, NamedTuple

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


class Sleeper(NamedTuple):
    """One sleeper of a node: a direct provider (``key`` its pod) or a launcher instance
    (``key`` ``<launcher>/<instance id>``), with what stops it."""

    last_used: float
    created: float
    key: str
    gpus: list[str]
    effect: Any  # DeletePod or DeleteInstance, reason to be filled in
    mode: str  # direct | launcher
    host_bytes: int | None  # what the byte budget counts (direct providers only)


def sleepers(world: World, node: str, claims: Claims) -> list[Sleeper]:
    """The node's sleepers, least recently used first: what the per-GPU limit counts —
    direct providers and launcher instances alike (a sleeping instance holds the same host
    memory and the same claim on the GPU's next wake-up as a sleeping provider)."""
    out = [Sleeper(P.last_used(p), P.created_ts(p), P.name(p), list(P.accelerators(p) or []),
                   E.DeletePod(P.name(p), ""), "direct", P.sleeper_bytes(p))
           for p in world.providers(node)
           if P.sleeping(p) and P.bound_to(p) is None and not P.deleting(p) and P.name(p) not in claims.pods]
    out += [Sleeper(inst.last_used, 0.0, f"{lname}/{inst.id}", instance_gpus(inst), eff, "launcher", None)
            for lname, inst, eff in launcher_sleepers(world, node, claims)]
    return sorted(out, key=lambda s: (s.last_used, s.created, s.key))


def sleepers_per_gpu(world: World, node: str) -> dict[str, int]:
    """Sleepers per GPU UUID of ``node`` (0 for its other GPUs in the gpu-map): the
    ``fma_dualpods_sleepers`` gauge, counted as the limit counts them."""
    out = {g: 0 for g in (world.node_gpus(node) or {})}
    for s in sleepers(world, node, Claims()):
        for g in s.gpus:
            out[g] = out.get(g, 0) + 1
    return out


def sleeper_decisions(world: World, node: str, claims: Claims) -> list[Decision]:
    """Delete least recently used sleepers past the per-GPU limit and the byte budget."""
    lru = sleepers(world, node, claims)
    doomed: dict[str, str] = {}
    limit = max(0, world.config.sleeper_limit)
    per_gpu: dict[str, list[Sleeper]] = {}
    for s in lru:
        for gpu in s.gpus:
            per_gpu.setdefault(gpu, []).append(s)
    for gpu in sorted(per_gpu):
        alive = [s for s in per_gpu[gpu] if s.key not in doomed]
        for s in alive[: max(0, len(alive) - limit)]:
            doomed[s.key] = f"GPU {gpu} has {len(alive)} sleepers, limit {limit}; least recently used"
    budget = world.config.host_memory_budget
    if budget is not None:
        kept = [s for s in lru if s.host_bytes is not None and s.key not in doomed]
        total = sum(s.host_bytes or 0 for s in kept)
        for s in kept:
            if total <= budget:
                break
            doomed[s.key] = f"sleepers on {node} hold {total} B of host memory, budget {budget} B"
            total -= s.host_bytes or 0
    out = []
    by_key = {s.key: s for s in lru}
    for key, why in doomed.items():
        s = by_key[key]
        if s.mode == "direct":
            claims.pods.add(key)
        out.append(Decision(key, "evict-sleeper", why, (replace(s.effect, reason=why),), s.mode))
    return out
