"""A launcher pod as the populator sees it: plain facts read from the pod object."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from fma.controllers.populator import names as N

Obj = dict[str, Any]


def parse_time(value: Any) -> float | None:
    """RFC 3339 (``2026-11-23T21:45:02Z``, fractions and offsets allowed) -> unix seconds."""
    if not isinstance(value, str) or not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def is_launcher(pod: Obj) -> bool:
    return N.LABEL_LAUNCHER_CONFIG in ((pod.get("metadata") or {}).get("labels") or {})


@dataclass(frozen=True)
class LauncherView:
    name: str
    uid: str
    resource_version: str
    node: str
    lc: str
    template_hash: str
    bound: bool
    deleting: bool
    created: float
    scheduled_at: float | None
    ready: bool
    unready_since: float | None
    failed: bool
    stuck_label: bool
    holds_instances: bool = False  # its vLLM instance signature is not the empty one


def launcher_view(pod: Obj) -> LauncherView:
    md = pod.get("metadata") or {}
    labels = md.get("labels") or {}
    ann = md.get("annotations") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    conds = {c.get("type"): c for c in status.get("conditions") or [] if isinstance(c, dict)}
    sched = conds.get("PodScheduled")
    scheduled_at = None
    if sched is not None and sched.get("status") == "True":
        scheduled_at = parse_time(sched.get("lastTransitionTime")) or parse_time(status.get("startTime")) or 0.0
    elif status.get("startTime"):  # kubelet admitted it (pods pinned with nodeName skip the scheduler)
        scheduled_at = parse_time(status.get("startTime"))
    ready_cond = conds.get("Ready")
    ready = ready_cond is not None and ready_cond.get("status") == "True"
    unready_since = None
    if ready_cond is not None and not ready:
        unready_since = parse_time(ready_cond.get("lastTransitionTime"))
    return LauncherView(
        name=md.get("name", ""),
        uid=md.get("uid", ""),
        resource_version=str(md.get("resourceVersion", "")),
        node=labels.get(N.LABEL_NODE) or spec.get("nodeName") or "",
        lc=labels.get(N.LABEL_LAUNCHER_CONFIG, ""),
        template_hash=ann.get(N.ANN_TEMPLATE_HASH, ""),
        bound=bool(ann.get(N.ANN_REQUESTER)),
        deleting=bool(md.get("deletionTimestamp")),
        created=parse_time(md.get("creationTimestamp")) or 0.0,
        scheduled_at=scheduled_at,
        ready=ready,
        unready_since=unready_since,
        failed=status.get("phase") in ("Failed", "Succeeded"),
        stuck_label=labels.get(N.LABEL_STUCK) == "true",
        holds_instances=ann.get(N.ANN_INSTANCE_SIGNATURE, N.EMPTY_SIGNATURE) != N.EMPTY_SIGNATURE,
    )
