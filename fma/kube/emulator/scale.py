"""The ``scale`` subresource (``autoscaling/v1`` Scale) of ReplicaSets and Deployments:
what ``kubectl scale`` reads and patches. A Scale is a view of the object: its
``spec.replicas`` is the object's, its status says how many replicas there are and the
label selector that counts them."""

from __future__ import annotations

import copy
from typing import Any

from fma.kube.emulator import errors
from fma.kube.emulator.errors import ApiError

Obj = dict[str, Any]
SCALABLE = {"apps/replicasets", "apps/deployments"}


def selector_string(sel: Obj | None) -> str:
    """``matchLabels`` and simple ``matchExpressions`` as a label-selector string."""
    sel = sel or {}
    parts = [f"{k}={v}" for k, v in sorted((sel.get("matchLabels") or {}).items())]
    for e in sel.get("matchExpressions") or []:
        op, key, vals = e.get("operator"), e.get("key"), ",".join(e.get("values") or [])
        parts.append({"In": f"{key} in ({vals})", "NotIn": f"{key} notin ({vals})", "Exists": str(key),
                      "DoesNotExist": f"!{key}"}.get(str(op), ""))
    return ",".join(p for p in parts if p)


def to_scale(obj: Obj) -> Obj:
    md = obj.get("metadata") or {}
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: md[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                         if k in md},
            "spec": {"replicas": int(spec.get("replicas", 1))},
            "status": {"replicas": int(status.get("replicas") or 0),
                       "selector": selector_string(spec.get("selector"))}}


def apply_scale(cur: Obj, scale: Obj, group_resource: str, name: str) -> Obj:
    """The object with the Scale's ``spec.replicas`` written in (a copy); 422 when invalid."""
    if not isinstance(scale, dict):
        raise errors.bad_request("the body of the request was not a JSON object")
    replicas = (scale.get("spec") or {}).get("replicas", 0)
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
        raise ApiError(422, f'{group_resource} "{name}" is invalid: spec.replicas: Invalid value: {replicas!r}: '
                       "must be greater than or equal to 0", "Invalid")
    new = copy.deepcopy(cur)
    new.setdefault("spec", {})["replicas"] = replicas
    want = (scale.get("metadata") or {}).get("resourceVersion")
    if want:
        new["metadata"]["resourceVersion"] = want
    return new
