"""Launcher-mode decisions (BEHAVIOUR.md §3): a requester names an InferenceServerConfig;
its server is an instance run by a launcher pod on the requester's node.

A launcher serves at most one requester at a time (its `requester` annotation is the
binding); its other instances sleep. Choice order: hot, warm, evict, wait, cold.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from fma.controllers.dualpods import effects as E
from fma.controllers.dualpods import names as N
from fma.controllers.dualpods import routing
from fma.controllers.dualpods import pods as P
from fma.controllers.dualpods.decision import Decision, error, server_url, spi_url, status_effects
from fma.controllers.dualpods.direct import Claims, provider_lost, requester_gpus
from fma.controllers.dualpods.ids import config_digest, create_body, instance_id
from fma.controllers.dualpods.world import InstanceView, World, launcher_node

ANN_INST_ISC = N.OURS + "isc"
ANN_INST_DIGEST = N.OURS + "isc-digest"
ANN_INST_GPUS = N.OURS + "gpus"  # comma-joined GPU UUIDs (for the per-GPU sleeper limit)
M = "launcher"


class _Bad(Exception):
    pass


def _isc_parts(world: World, r: Mapping[str, Any]) -> tuple[str, dict, str, dict]:
    iname = P.annotations(r)[N.ANN_ISC]
    isc = world.iscs.get(iname)
    if isc is None:
        raise _Bad(f"InferenceServerConfig {iname} not found")
    spec = isc.get("spec") or {}
    msc = spec.get("modelServerConfig")
    if not isinstance(msc, dict):
        raise _Bad(f"InferenceServerConfig {iname} has no spec.modelServerConfig")
    port = msc.get("port")
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise _Bad(f"InferenceServerConfig {iname}: modelServerConfig.port must be 1..65535, got {port!r}")
    lname = spec.get("launcherConfigName")
    lc = world.lcfgs.get(lname or "")
    if lc is None:
        raise _Bad(f"LauncherConfig {lname!r} named by InferenceServerConfig {iname} not found")
    return iname, msc, str(lname), lc


def routing_metadata(msc: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    return {"labels": {str(k): str(v) for k, v in (msc.get("labels") or {}).items()},
            "annotations": {str(k): str(v) for k, v in (msc.get("annotations") or {}).items()}}


def _bind_patch(world: World, r: Mapping[str, Any], lname: str, iid: str, body: Mapping[str, Any],
                msc: Mapping[str, Any], expect_free: bool) -> E.PatchMeta:
    meta = routing_metadata(msc)
    ann: dict[str, str | None] = dict(meta["annotations"])
    ann.update({
        N.ANN_REQUESTER: P.binding_value(r),
        N.ANN_INSTANCE_ID: iid,
        N.ANN_SERVER_PORT: str(msc["port"]),
        N.ANN_VLLM_CONFIG: json.dumps(body, sort_keys=True),
        N.ANN_ISC_ROUTING: json.dumps(meta, sort_keys=True),
    })
    labels: dict[str, str | None] = dict(meta["labels"])
    labels[N.LBL_DUAL] = P.name(r)
    return E.PatchMeta(lname, labels=labels, annotations=ann, add_finalizers=(N.FIN_PROVIDER,),
                       expect={N.ANN_REQUESTER: None} if expect_free else {})


def unbind_launcher(launcher: Mapping[str, Any], now: float) -> E.PatchMeta:
    """Remove the binding and the routing metadata that was applied from the ISC."""
    ann = P.annotations(launcher)
    try:
        meta = json.loads(ann.get(N.ANN_ISC_ROUTING) or "{}")
    except ValueError:
        meta = {}
    labels: dict[str, str | None] = {k: None for k in (meta.get("labels") or {})}
    annotations: dict[str, str | None] = {k: None for k in (meta.get("annotations") or {})}
    labels[N.LBL_DUAL] = None
    for key in (N.ANN_REQUESTER, N.ANN_INSTANCE_ID, N.ANN_SERVER_PORT, N.ANN_VLLM_CONFIG, N.ANN_ISC_ROUTING):
        annotations[key] = None
    annotations[N.ANN_LAST_USED] = f"{now:.3f}"
    return E.PatchMeta(P.name(launcher), labels=labels, annotations=annotations,
                       remove_finalizers=(N.FIN_PROVIDER,))


def launcher_url(world: World, launcher: Mapping[str, Any]) -> str:
    return f"http://{P.pod_ip(launcher)}:{world.config.launcher_port}"


def _usable(p: Mapping[str, Any]) -> bool:
    return not P.deleting(p) and not P.failed(p)


def _serving_ready(p: Mapping[str, Any]) -> bool:
    return P.ready(p) and bool(P.pod_ip(p))


def decide_launcher(world: World, r: Mapping[str, Any], claims: Claims) -> Decision:
    rname = P.name(r)
    lnch = world.bound_to(r)
    if P.deleting(r):
        return _leaving(world, r, lnch)
    lost = provider_lost(world, r, lnch)
    if lost is not None:
        return Decision(lost.subject, lost.kind, lost.reason, lost.effects, M, lost.target)
    try:
        iname, msc, lcname, lc = _isc_parts(world, r)
    except _Bad as exc:
        if lnch is not None:
            claims.pods.add(P.name(lnch))
        return error(r, [str(exc)], M)
    if lnch is not None:
        claims.pods.add(P.name(lnch))
        return _bound(world, r, lnch, iname, msc)
    bad = routing.problems(routing_metadata(msc))
    if bad:
        return error(r, [f"InferenceServerConfig {iname}: {b}" for b in bad], M)
    node = P.node(r)
    if not node:
        return Decision(rname, "wait", "requester not scheduled yet", (), M)
    gpus, first = requester_gpus(world, r, M)
    if first is not None:
        return first
    assert gpus is not None
    iid = instance_id(msc, gpus)
    body = create_body(msc, gpus, {ANN_INST_ISC: iname, ANN_INST_DIGEST: config_digest(msc),
                                     ANN_INST_GPUS: ",".join(sorted(gpus))})
    port = int(msc["port"])
    cap = int((lc.get("spec") or {}).get("maxInstances") or 1)
    pre = status_effects(r, []) + (() if N.FIN_REQUESTER in P.finalizers(r) else (
        E.PatchMeta(rname, add_finalizers=(N.FIN_REQUESTER,)),))
    free = [lp for lp in world.launchers(node, lcname)
            if _usable(lp) and P.bound_to(lp) is None and P.name(lp) not in claims.pods]
    ready = [lp for lp in free if _serving_ready(lp)]

    def bind(lp: Mapping[str, Any], kind: str, why: str, extra: tuple = ()) -> Decision:
        claims.pods.add(P.name(lp))
        label_r = E.PatchMeta(rname, labels={N.LBL_DUAL: P.name(lp), N.LBL_INSTANCE: iid},
                              add_finalizers=(N.FIN_REQUESTER,))
        return Decision(rname, kind, why, pre + extra + (
            _bind_patch(world, r, P.name(lp), iid, body, msc, True), label_r), M, P.name(lp))

    for lp in ready:
        inst = world.instances_of(lp).get(iid)
        if inst is not None and inst.status == "running":
            return bind(lp, "hot", f"launcher {P.name(lp)} has instance {iid} asleep")
    for lp in sorted(ready, key=lambda lp: -_count(world, lp, claims)):
        insts = _live(world, lp)
        if _count(world, lp, claims) < cap and not any(i.port == port for i in insts.values()):
            claims.instances[P.name(lp)] = claims.instances.get(P.name(lp), 0) + 1
            return bind(lp, "warm", f"launcher {P.name(lp)} has room ({len(insts)}/{cap}) and port {port} free")
    best: tuple[tuple, Mapping[str, Any], list[InstanceView]] | None = None
    for lp in ready:
        # rule 6 sent the request elsewhere if it could (warm above); here no launcher had
        # room, so a sleeper holding the port is one more victim, not a reason to go cold
        clash = [i for i in _live(world, lp).values() if i.port == port]
        if any(not i.sleeping for i in clash):
            continue
        others = sorted((i for i in world.instances_of(lp).values() if i not in clash),
                        key=lambda i: (i.status == "running", i.last_used, i.id))
        victims = clash + others[: max(0, _count(world, lp, claims) - cap + 1 - len(clash))]
        score = (len(victims), max((i.last_used for i in victims), default=0.0), P.name(lp))
        if best is None or score < best[0]:
            best = (score, lp, victims)
    if best is not None:
        _, lp, victims = best
        url = launcher_url(world, lp)
        dels = tuple(E.DeleteInstance(P.name(lp), url, i.id, f"evicted for {rname}") for i in victims)
        return bind(lp, "evict", f"launcher {P.name(lp)} full: stopping {len(victims)} least recently "
                    f"used sleeper(s) {', '.join(i.id[:10] for i in victims)}", dels)
    starting = [lp for lp in free if not _serving_ready(lp)]
    if starting:
        return Decision(rname, "wait", f"launcher {P.name(starting[0])} of {lcname} on {node} is starting",
                        pre, M, P.name(starting[0]))
    try:
        pod = launcher_pod(world, r, lcname, lc, node)
    except _Bad as exc:
        return error(r, [str(exc)], M)
    md = pod["metadata"]
    bp = _bind_patch(world, r, "", iid, body, msc, False)
    md["labels"].update({k: v for k, v in bp.labels.items() if v is not None})
    md["annotations"].update({k: v for k, v in bp.annotations.items() if v is not None})
    md["finalizers"] = [N.FIN_PROVIDER]
    return Decision(rname, "cold", f"no launcher of {lcname} on {node} can take instance {iid[:10]}",
                    pre + (E.CreatePod(pod, rname),), M)


def _live(world: World, lp: Mapping[str, Any]) -> dict[str, InstanceView]:
    return {k: v for k, v in world.instances_of(lp).items() if v.status == "running"}


def _count(world: World, lp: Mapping[str, Any], claims: Claims) -> int:
    """Instance slots taken (a stopped instance holds its slot until it is deleted)."""
    return len(world.instances_of(lp)) + claims.instances.get(P.name(lp), 0)


def launcher_pod(world: World, r: Mapping[str, Any], lcname: str, lc: Mapping[str, Any], node: str) -> dict:
    """A cold-start launcher pod: exactly the pod the populator would make for this node
    (same template, labels, owner and drift digests — one builder, so the populator never
    mistakes the controller's launcher for an outdated one and deletes it)."""
    from fma.controllers.populator.template import build_launcher_pod, parse_launcher_config

    view = parse_launcher_config({**lc, "metadata": {**(lc.get("metadata") or {}), "name": lcname}})
    if not view.ok:
        raise _Bad(f"LauncherConfig {lcname}: " + "; ".join(view.errors))
    return build_launcher_pod(view, node, P.meta(r).get("namespace") or world.namespace)


def _bound(world: World, r: Mapping[str, Any], lp: Mapping[str, Any], iname: str, msc: Mapping) -> Decision:
    rname, lname = P.name(r), P.name(lp)
    ann = P.annotations(lp)
    iid = ann.get(N.ANN_INSTANCE_ID, "")
    upkeep: list[Any] = []
    if N.FIN_PROVIDER not in P.finalizers(lp):
        upkeep.append(E.PatchMeta(lname, add_finalizers=(N.FIN_PROVIDER,)))
    lab = P.labels(r)
    if (N.FIN_REQUESTER not in P.finalizers(r) or lab.get(N.LBL_DUAL) != lname
            or lab.get(N.LBL_INSTANCE) != iid):
        upkeep.append(E.PatchMeta(rname, labels={N.LBL_DUAL: lname, N.LBL_INSTANCE: iid},
                                  add_finalizers=(N.FIN_REQUESTER,)))
    meta = routing_metadata(msc)
    if ann.get(N.ANN_ISC_ROUTING) != json.dumps(meta, sort_keys=True):
        try:
            prev = json.loads(ann.get(N.ANN_ISC_ROUTING) or "{}")
        except ValueError:
            prev = {}
        bad = routing.problems(meta, lp, prev)
        if bad:  # the ISC changed under this binding to metadata the launcher cannot take
            msg = f"{routing.OUTDATED_MESSAGE}: " + "; ".join(bad)
            return Decision(rname, "lost", msg, (
                E.RecordEvent(rname, routing.OUTDATED_REASON, msg, "Warning"),
                E.DeletePod(rname, "ISC routing metadata cannot be applied to its launcher")), M, lname)
        labels: dict[str, str | None] = {k: None for k in prev.get("labels") or {}}
        labels.update(meta["labels"])
        anns: dict[str, str | None] = {k: None for k in prev.get("annotations") or {}}
        anns.update(meta["annotations"])
        anns[N.ANN_ISC_ROUTING] = json.dumps(meta, sort_keys=True)
        upkeep.append(E.PatchMeta(lname, labels=labels, annotations=anns))
    up = tuple(upkeep)
    if not _serving_ready(lp):
        return Decision(rname, "starting", f"launcher {lname} is starting", up, M, lname)
    inst = world.instances_of(lp).get(iid)
    if inst is None:
        try:
            body = json.loads(ann.get(N.ANN_VLLM_CONFIG) or "")
        except ValueError:
            return Decision(rname, "lost", f"launcher {lname} has no readable {N.ANN_VLLM_CONFIG}",
                            (E.DeletePod(rname, "binding unreadable"),), M, lname)
        return Decision(rname, "starting", f"creating instance {iid[:10]} on launcher {lname}",
                        up + (E.CreateInstance(lname, launcher_url(world, lp), iid, body),), M, lname)
    if inst.status != "running":
        return Decision(rname, "lost", f"instance {iid[:10]} on {lname} stopped by itself; deleting the "
                        "requester so that it is made anew",
                        (E.DeletePod(rname, "instance stopped"),
                         E.DeleteInstance(lname, launcher_url(world, lp), iid, "stopped")), M, lname)
    port = inst.port or int(ann.get(N.ANN_SERVER_PORT) or 0)
    if inst.sleeping:
        return Decision(rname, "wake", f"waking instance {iid[:10]} on {lname}",
                        up + (E.WakeInstance(lname, iid, server_url(lp, port), launcher_url(world, lp)),), M, lname)
    told = (P.uid(r), lname) in world.told_ready
    if inst.ready:
        if told:
            return Decision(rname, "fixup" if up else "serving", f"instance {iid[:10]} serves", up, M, lname)
        return Decision(rname, "serving", f"instance {iid[:10]} on {lname} is ready: telling the requester",
                        up + (E.BecomeReady(rname, spi_url(r), lname, f"{P.pod_ip(lp)}:{port}"),), M, lname)
    if told:
        return Decision(rname, "starting", f"instance {iid[:10]} stopped being ready",
                        up + (E.BecomeUnready(rname, spi_url(r), lname),), M, lname)
    return Decision(rname, "starting", f"instance {iid[:10]} on {lname} is loading", up, M, lname)


def _obsolete(world: World, inst: InstanceView) -> str:
    """Why an instance's ISC no longer describes it ("" when it still does)."""
    iname = inst.annotations.get(ANN_INST_ISC)
    if not iname:
        return ""
    isc = world.iscs.get(iname)
    if isc is None:
        return f"InferenceServerConfig {iname} deleted"
    msc = (isc.get("spec") or {}).get("modelServerConfig") or {}
    if inst.annotations.get(ANN_INST_DIGEST) != config_digest(msc):
        return f"InferenceServerConfig {iname} changed"
    return ""


def _leaving(world: World, r: Mapping[str, Any], lp: Mapping[str, Any] | None) -> Decision:
    rname = P.name(r)
    drop = (E.PatchMeta(rname, remove_finalizers=(N.FIN_REQUESTER,)),) \
        if N.FIN_REQUESTER in P.finalizers(r) else ()
    if lp is None or not _usable(lp):
        return Decision(rname, "release" if drop else "idle", "requester leaving; no live launcher", drop, M)
    lname = P.name(lp)
    iid = P.annotations(lp).get(N.ANN_INSTANCE_ID, "")
    inst = world.instances_of(lp).get(iid)
    unbind = unbind_launcher(lp, world.now)
    if inst is None or inst.status != "running" or not P.pod_ip(lp):
        dels = (E.DeleteInstance(lname, launcher_url(world, lp), iid, "requester left"),) \
            if inst is not None and P.pod_ip(lp) else ()
        return Decision(rname, "release", f"requester leaving; instance {iid[:10]} not running",
                        dels + (unbind,) + drop, M, lname)
    why = _obsolete(world, inst)
    if why:
        return Decision(rname, "unbind", f"requester leaving; {why}: deleting instance {iid[:10]}",
                        (E.DeleteInstance(lname, launcher_url(world, lp), iid, why), unbind) + drop, M, lname)
    if inst.sleeping:
        return Decision(rname, "release", f"instance {iid[:10]} already asleep: unbinding", (unbind,) + drop,
                        M, lname)
    port = inst.port or int(P.annotations(lp).get(N.ANN_SERVER_PORT) or 0)
    return Decision(rname, "unbind", f"requester leaving: putting instance {iid[:10]} on {lname} to sleep",
                    (E.SleepInstance(lname, launcher_url(world, lp), iid, server_url(lp, port), unbind, rname),),
                    M, lname)


def launcher_decisions(world: World, node: str, claims: Claims) -> list[Decision]:
    """Launcher housekeeping: finalizers, orphans, obsolete and stopped instances (rule 7)."""
    out: list[Decision] = []
    for lp in world.launchers(node):
        lname = P.name(lp)
        b = P.bound_to(lp)
        owner = world.requester_by_uid(b[0]) if b else None
        if P.deleting(lp):
            if (owner is None or P.deleting(owner)) and N.FIN_PROVIDER in P.finalizers(lp):
                out.append(Decision(lname, "cleanup", "launcher being deleted and no live requester holds it",
                                    (E.PatchMeta(lname, remove_finalizers=(N.FIN_PROVIDER,)),), M))
            continue
        if not _serving_ready(lp):
            continue
        url = launcher_url(world, lp)
        if b is not None and owner is None and lname not in claims.pods:
            iid = P.annotations(lp).get(N.ANN_INSTANCE_ID, "")
            inst = world.instances_of(lp).get(iid)
            unbind = unbind_launcher(lp, world.now)
            if inst is not None and inst.status == "running" and not inst.sleeping:
                port = inst.port or int(P.annotations(lp).get(N.ANN_SERVER_PORT) or 0)
                eff: tuple = (E.SleepInstance(lname, url, iid, server_url(lp, port), unbind),)
            else:
                eff = (unbind,)
            out.append(Decision(lname, "cleanup", f"orphan launcher binding (requester {b[1]} gone)", eff, M))
            continue
        bound_iid = P.annotations(lp).get(N.ANN_INSTANCE_ID) if b else None
        dels = []
        for inst in world.instances_of(lp).values():
            if inst.id == bound_iid:
                continue
            why = "stopped" if inst.status != "running" else _obsolete(world, inst)
            if why:
                dels.append(E.DeleteInstance(lname, url, inst.id, why))
        if dels:
            out.append(Decision(lname, "cleanup", f"{len(dels)} obsolete or stopped instance(s)", tuple(dels), M))
    return out


def launcher_sleepers(world: World, node: str, claims: Claims) -> list[tuple[str, InstanceView, E.DeleteInstance]]:
    """Sleeping instances on this node's launchers that the per-GPU sleeper limit may stop:
    ``(launcher, instance, delete effect)``. Not the bound instance of a launcher, and
    nothing on a launcher this pass already claimed (a hot start may be waking it)."""
    out = []
    for lp in world.launchers(node):
        lname = P.name(lp)
        if lname in claims.pods or not _usable(lp) or not _serving_ready(lp):
            continue
        bound_iid = P.annotations(lp).get(N.ANN_INSTANCE_ID) if P.bound_to(lp) else None
        for inst in world.instances_of(lp).values():
            if inst.id != bound_iid and inst.status == "running" and inst.sleeping:
                out.append((lname, inst, E.DeleteInstance(lname, launcher_url(world, lp), inst.id, "")))
    return out


def instance_gpus(inst: InstanceView) -> list[str]:
    return [g for g in (inst.annotations.get(ANN_INST_GPUS) or "").split(",") if g]


__all__ = ["decide_launcher", "launcher_decisions", "launcher_pod", "launcher_sleepers", "instance_gpus",
           "routing_metadata", "unbind_launcher", "launcher_node", "ANN_INST_ISC", "ANN_INST_DIGEST", "ANN_INST_GPUS"]
