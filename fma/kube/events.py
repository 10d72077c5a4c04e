"""Kubernetes Events (``core/v1``) for objects, e.g. ``LauncherStuck`` on a launcher pod."""

from __future__ import annotations

import logging
import time
from typing import Any

from fma.kube.client import KubeError, Rest

log = logging.getLogger(__name__)
Obj = dict[str, Any]


def record_event(rest: Rest, obj: Obj, reason: str, message: str, type_: str = "Normal",
                 component: str = "fma") -> Obj | None:
    """Create an Event about ``obj``; failures are logged, never raised (events are advisory)."""
    md = obj.get("metadata") or {}
    ns = md.get("namespace") or "default"
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    body = {"apiVersion": "v1", "kind": "Event",
            "metadata": {"generateName": f"{md.get('name', 'object')}.", "namespace": ns},
            "involvedObject": {"apiVersion": obj.get("apiVersion", "v1"), "kind": obj.get("kind", "Pod"),
                               "name": md.get("name"), "namespace": ns, "uid": md.get("uid"),
                               "resourceVersion": md.get("resourceVersion")},
            "reason": reason, "message": message, "type": type_, "count": 1,
            "firstTimestamp": now, "lastTimestamp": now, "source": {"component": component},
            "reportingComponent": component}
    try:
        return rest.create("events", ns, body)
    except KubeError as exc:
        log.warning("cannot record event %s on %s/%s: %s", reason, ns, md.get("name"), exc)
        return None
