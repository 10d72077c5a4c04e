"""Direct-mode decisions (BEHAVIOUR.md §2): one requester, one provider Pod running vLLM."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from fma.controllers.dualpods import effects as E
from fma.controllers.dualpods import names as N
from fma.controllers.dualpods import pods as P
from fma.controllers.dualpods.decision import (
    Decision, error, server_url, spi_url, status_effects,
)
from fma.controllers.dualpods.merge import PatchError
from fma.controllers.dualpods.spec import provider_spec
from fma.controllers.dualpods.world import World


@dataclass
class Claims:
    """What earlier decisions of the same pass already took (so two requesters on a node
    never pick the same sleeper or launcher from one snapshot)."""

    pods: set[str] = field(default_factory=set)
    instances: dict[str, int] = field(default_factory=dict)  # launcher -> instances added/removed


def requester_gpus(world: World, r: Mapping[str, Any], mode: str) -> tuple[list[str] | None, Decision | None]:
    """The requester's GPUs, or the decision to take first (ask the stub, or wait)."""
    gpus = P.accelerators(r)
    if gpus:
        return gpus, None
    if not P.pod_ip(r):
        return None, Decision(P.name(r), "wait", "requester has no IP yet (stub not started)", (), mode)
    return None, Decision(P.name(r), "query", "asking the requester stub which GPUs it holds",
                          (E.QueryAccelerators(P.name(r), spi_url(r)),), mode)


def bound_upkeep(r: Mapping[str, Any], prov: Mapping[str, Any]) -> list[Any]:
    """Finalizers on both and the requester's `dual` label (rule 4), when missing."""
    out: list[Any] = []
    if N.FIN_PROVIDER not in P.finalizers(prov):
        out.append(E.PatchMeta(P.name(prov), add_finalizers=(N.FIN_PROVIDER,)))
    if N.FIN_REQUESTER not in P.finalizers(r) or P.labels(r).get(N.LBL_DUAL) != P.name(prov):
        out.append(E.PatchMeta(P.name(r), labels={N.LBL_DUAL: P.name(prov)},
                               add_finalizers=(N.FIN_REQUESTER,)))
    return out


def provider_lost(world: World, r: Mapping[str, Any], prov: Mapping[str, Any] | None) -> Decision | None:
    """Rule 8: the bound provider is gone (or going, or failed, or its node is gone)."""
    rname = P.name(r)
    dual = P.labels(r).get(N.LBL_DUAL, "")
    why = ""
    if prov is None:
        if dual and dual not in world.pods:
            why = f"provider {dual} was deleted"
    elif P.deleting(prov):
        why = f"provider {P.name(prov)} is being deleted"
    elif P.failed(prov):
        why = f"provider {P.name(prov)} failed"
    elif world.nodes is not None and P.node(r) and P.node(r) not in world.nodes:
        why = f"node {P.node(r)} is gone"
    if not why:
        return None
    effects: list[Any] = [E.DeletePod(rname, why)]
    if prov is not None and P.failed(prov) and not P.deleting(prov):
        effects.append(E.DeletePod(P.name(prov), "its server failed"))
    return Decision(rname, "lost", why + "; deleting the requester so that it is made anew",
                    tuple(effects), "direct", P.name(prov) if prov is not None else dual)


def decide_direct(world: World, r: Mapping[str, Any], claims: Claims) -> Decision:
    rname = P.name(r)
    prov = world.bound_to(r)
    if P.deleting(r):
        return _leaving(world, r, prov)
    lost = provider_lost(world, r, prov)
    if lost is not None:
        return lost
    if prov is not None:
        claims.pods.add(P.name(prov))
        return _bound(world, r, prov)
    node = P.node(r)
    if not node:
        return Decision(rname, "wait", "requester not scheduled yet", (), "direct")
    gpus, first = requester_gpus(world, r, "direct")
    if first is not None:
        return first
    assert gpus is not None
    node_gpus = world.node_gpus(node)
    if node_gpus is None:
        why = (f"ConfigMap {N.GPU_MAP} not found" if world.gpu_map is None
               else f"ConfigMap {N.GPU_MAP} has no entry for node {node}")
        return error(r, [why], "direct")
    try:
        ps = provider_spec(r, P.annotations(r)[N.ANN_SERVER_PATCH], node, gpus, node_gpus,
                           world.config.local_volume)
    except PatchError as exc:
        return error(r, [str(exc)], "direct")
    clear = status_effects(r, [])
    fin_r = () if N.FIN_REQUESTER in P.finalizers(r) else (
        E.PatchMeta(rname, add_finalizers=(N.FIN_REQUESTER,)),)
    sleeper = _matching_sleeper(world, node, ps.nominal, claims)
    if sleeper is not None:
        claims.pods.add(P.name(sleeper))
        bind = E.PatchMeta(
            P.name(sleeper),
            labels={N.LBL_DUAL: rname},
            annotations={N.ANN_REQUESTER: P.binding_value(r)},
            add_finalizers=(N.FIN_PROVIDER,),
            expect={N.ANN_REQUESTER: None},
        )
        label_r = E.PatchMeta(rname, labels={N.LBL_DUAL: P.name(sleeper)}, add_finalizers=(N.FIN_REQUESTER,))
        return Decision(rname, "hot", f"sleeping provider {P.name(sleeper)} has the same nominal spec",
                        clear + (bind, label_r), "direct", P.name(sleeper))
    pod = ps.pod
    md = pod["metadata"]
    md["annotations"][N.ANN_REQUESTER] = P.binding_value(r)
    md["labels"][N.LBL_DUAL] = rname
    md["labels"][N.LBL_SLEEPING] = "false"
    md["finalizers"] = [N.FIN_PROVIDER]
    return Decision(rname, "cold", f"no sleeping provider on {node} matches nominal {ps.nominal[:12]}",
                    clear + fin_r + (E.CreatePod(pod, rname),), "direct")


def _matching_sleeper(world: World, node: str, nominal: str, claims: Claims) -> dict[str, Any] | None:
    found = [p for p in world.providers(node)
             if P.annotations(p).get(N.ANN_NOMINAL) == nominal and P.sleeping(p)
             and P.bound_to(p) is None and not P.deleting(p) and not P.failed(p)
             and P.name(p) not in claims.pods]
    if not found:
        return None
    return max(found, key=lambda p: (P.last_used(p), P.name(p)))  # most recently used


def _bound(world: World, r: Mapping[str, Any], prov: Mapping[str, Any]) -> Decision:
    rname, pname = P.name(r), P.name(prov)
    upkeep = tuple(bound_upkeep(r, prov))
    if P.sleeping(prov):
        if not P.pod_ip(prov):
            return Decision(rname, "starting", f"sleeping provider {pname} has no IP", upkeep, "direct", pname)
        return Decision(rname, "wake", f"waking provider {pname}",
                        upkeep + _memory_check(world, r) + (E.WakeProvider(pname, server_url(prov)),),
                        "direct", pname)
    told = (P.uid(r), pname) in world.told_ready
    if P.ready(prov) and P.pod_ip(prov):
        if told:
            kind = "fixup" if upkeep else "serving"
            return Decision(rname, kind, f"provider {pname} serves", upkeep, "direct", pname)
        target = f"{P.pod_ip(prov)}:{P.server_port(prov)}"
        return Decision(rname, "serving", f"provider {pname} is ready and awake: telling the requester",
                        upkeep + (E.BecomeReady(rname, spi_url(r), pname, target),), "direct", pname)
    if told:
        return Decision(rname, "starting", f"provider {pname} stopped being ready",
                        upkeep + (E.BecomeUnready(rname, spi_url(r), pname),), "direct", pname)
    return Decision(rname, "starting", f"provider {pname} is starting", upkeep, "direct", pname)


def _memory_check(world: World, r: Mapping[str, Any]) -> tuple[Any, ...]:
    limit = world.config.accelerator_memory_limit_mib
    if limit is None:
        return ()
    return (E.CheckAcceleratorMemory(P.name(r), spi_url(r), tuple(P.accelerators(r) or ()), limit),)


def _leaving(world: World, r: Mapping[str, Any], prov: Mapping[str, Any] | None) -> Decision:
    """Rule 6 and 9: the requester is being deleted."""
    rname = P.name(r)
    drop = (E.PatchMeta(rname, remove_finalizers=(N.FIN_REQUESTER,)),) \
        if N.FIN_REQUESTER in P.finalizers(r) else ()
    if prov is None or P.deleting(prov) or P.failed(prov):
        why = "no provider" if prov is None else f"provider {P.name(prov)} is going away"
        return Decision(rname, "release" if drop else "idle", f"requester leaving; {why}", drop, "direct")
    pname = P.name(prov)
    if P.sleeping(prov):
        return Decision(rname, "release", f"provider {pname} already asleep: unbinding",
                        (unbind_patch(prov, world.now),) + drop, "direct", pname)
    if not P.pod_ip(prov):
        return Decision(rname, "unbind", f"provider {pname} never started: deleting it",
                        (E.DeletePod(pname, "requester deleted before the server started"),), "direct", pname)
    return Decision(rname, "unbind", f"requester leaving: putting provider {pname} to sleep",
                    (E.SleepAndRelease(pname, server_url(prov), rname),), "direct", pname)


def unbind_patch(prov: Mapping[str, Any], now: float, sleeping: bool = True) -> E.PatchMeta:
    return E.PatchMeta(
        P.name(prov),
        labels={N.LBL_DUAL: None, N.LBL_SLEEPING: "true" if sleeping else "false"},
        annotations={N.ANN_REQUESTER: None, N.ANN_LAST_USED: f"{now:.3f}"},
    )
