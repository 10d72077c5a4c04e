"""Recovery after a launcher restart: fold the state dir's log back into instances.

For every instance actor that was not removed: rebuild its lifecycle from its records
(``fold``), its request and process facts from the context those records carried, and
decide — a live state whose process still runs (same pid *and* start time) is re-adopted;
a live state whose process is gone becomes ``failed`` (the caller records that, with a
STOPPED watch event); a final state stays listed as ``stopped`` until it is deleted.
The watch revision resumes at the highest revision in the log, and the last watch events
are rebuilt from it so that ``since`` keeps working across the restart.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fma.events.fold import fold_log
from fma.statemachines import FoldError, InstanceLifecycle, InstanceState
from launcher import procs
from launcher.ids import CreateRequest, WatchEvent
from launcher.instance import Instance
from launcher.nodelifecycle import NodeLauncherLifecycle, NodeState
from launcher.watch import BUFFER_EVENTS

if TYPE_CHECKING:
    from launcher.node import Node

log = logging.getLogger(__name__)
S = InstanceState


@dataclass
class Recovered:
    revision: int = 0
    events: list[WatchEvent] = field(default_factory=list)
    adopt: list[Instance] = field(default_factory=list)
    lost: list[Instance] = field(default_factory=list)
    kept: list[Instance] = field(default_factory=list)


def _request(ctx: dict[str, Any]) -> CreateRequest:
    gpus = ctx.get("gpu_uuids")
    return CreateRequest(options=ctx.get("options", ""), gpu_uuids=tuple(gpus) if gpus is not None else None,
                         env_vars=ctx.get("env_vars"), annotations=ctx.get("annotations"))


def _watch_events(records: list[Any]) -> list[WatchEvent]:
    """The watch events the log's records stand for, oldest first (last BUFFER_EVENTS)."""
    starts: dict[str, dict[str, Any]] = {}
    out: list[WatchEvent] = []
    for r in records:
        rev = r.data.get("revision")
        if r.machine == "instance" and r.event == "start":
            starts[r.actor] = dict(r.data)
        if rev is None:
            continue
        if r.machine == "instance":
            base = starts.get(r.actor, {})
            kind = "CREATED" if r.event == "start" else "STOPPED"
            actor = r.actor
        elif r.machine == NodeLauncherLifecycle.name and r.event == "removed":
            actor = r.data.get("actor", "")
            base = starts.get(actor, {})
            kind = "DELETED"
        else:
            continue
        obj = {"instance_id": base.get("instance_id", actor.rsplit("/", 1)[-1]),
               "status": "running" if kind == "CREATED" else "stopped", "revision": rev}
        obj.update(_request(base).fields() if base else {})
        if kind == "STOPPED":
            obj["exit_code"] = r.data.get("exit_code")
        out.append(WatchEvent(rev, kind, obj))
    return out[-BUFFER_EVENTS:]


def recover(node: "Node") -> Recovered:
    records = list(node.log.read())
    out = Recovered()
    if not records:
        return out
    try:
        states = fold_log(records)
    except FoldError as exc:
        log.error("launcher %s: log does not fold cleanly (%s); skipping impossible records", node.name, exc)
        states = fold_log(records, strict=False)
    out.revision = max((int(r.data.get("revision", 0) or 0) for r in records), default=0)
    out.events = _watch_events(records)
    removed = {r.data.get("actor") for r in records
               if r.machine == NodeLauncherLifecycle.name and r.event == "removed"}
    node_state = states.get(node.actor)
    if node_state is not None:
        node.node_lc = NodeLauncherLifecycle.restore(NodeState(node_state.state), node_state.ctx)
    for actor, st in sorted(states.items(), key=lambda kv: kv[1].seq):
        if st.machine != "instance" or not actor.startswith(f"instance/{node.name}/"):
            continue
        ctx = dict(st.ctx)
        iid = ctx.get("instance_id") or actor.rsplit("/", 1)[-1].split("#")[0]
        incarnation = int(actor.rsplit("#", 1)[1]) if "#" in actor.rsplit("/", 1)[-1] else 1
        node._incarnations[iid] = max(node._incarnations.get(iid, 0), incarnation)
        if actor in removed:
            continue
        lc = InstanceLifecycle.restore(S(st.state), ctx)
        inst = Instance(instance_id=iid, actor=actor, request=_request(ctx), argv=tuple(ctx.get("argv", ())),
                        port=int(ctx.get("port", 0)), gpu_bytes=int(ctx.get("gpu_bytes", 0)),
                        host_bytes=int(ctx.get("host_bytes", 0)), log_path=str(ctx.get("log_path", "")),
                        lc=lc, pid=ctx.get("pid"), ticks=ctx.get("ticks"),
                        revision=int(ctx.get("revision", 0) or 0), exit_code=ctx.get("exit_code"))
        if lc.is_final:
            inst.final.set()
            node.instances[iid] = inst
            out.kept.append(inst)
        elif procs.same_process(inst.pid, inst.ticks):
            out.adopt.append(inst)
        else:
            node.instances[iid] = inst
            out.lost.append(inst)
    return out
