"""Launcher pods from a LauncherConfig's template, and the digests that detect drift.

The *template hash* (annotation ``launcher-populator-template-hash``) is a digest of the
node-independent pod the populator would build from the LauncherConfig: a pod whose
annotation differs was made from an older template and is *outdated*. The *config hash*
(``launcher-config-hash``) is the digest of the template hash and the node.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from fma.controllers.populator import names as N

Obj = dict[str, Any]
_API_ACCESS = re.compile(r"^kube-api-access-[a-z0-9]+$")


def digest(text: str) -> str:
    """base64url (unpadded) SHA-256 of ``text``: 43 characters."""
    return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class LauncherConfigView:
    """A LauncherConfig as the populator uses it; ``errors`` non-empty = unusable."""

    name: str
    uid: str = ""
    max_instances: int = 0
    prototype: Obj = field(default_factory=dict, compare=False)  # node-independent pod
    template_hash: str = ""
    errors: tuple[str, ...] = ()
    generation: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors


def parse_launcher_config(obj: Obj) -> LauncherConfigView:
    md = obj.get("metadata") or {}
    name, uid = md.get("name", ""), md.get("uid", "")
    gen = int(md.get("generation") or 0)
    spec = obj.get("spec")
    errors: list[str] = []
    if not isinstance(spec, Mapping):
        return LauncherConfigView(name, uid, errors=("spec is required",), generation=gen)
    mi = spec.get("maxInstances")
    if not isinstance(mi, int) or isinstance(mi, bool) or mi < 1:
        errors.append(f"spec.maxInstances must be an integer >= 1, got {mi!r}")
    tmpl = spec.get("podTemplate")
    proto: Obj = {}
    if not isinstance(tmpl, Mapping):
        errors.append("spec.podTemplate is required: the populator builds launcher pods from it")
    else:
        try:
            proto = _prototype(name, tmpl)
        except ValueError as exc:
            errors.append(str(exc))
    if errors:
        return LauncherConfigView(name, uid, mi if isinstance(mi, int) else 0, errors=tuple(errors), generation=gen)
    return LauncherConfigView(name, uid, mi, proto, digest(canonical(proto)), (), gen)


def _prototype(lc_name: str, tmpl: Mapping[str, Any]) -> Obj:
    """The node-independent launcher pod: template + FMA's forced settings."""
    meta = tmpl.get("metadata") or {}
    spec = tmpl.get("spec")
    if not isinstance(spec, Mapping):
        raise ValueError("spec.podTemplate.spec is required")
    spec = copy.deepcopy(dict(spec))
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        raise ValueError("spec.podTemplate.spec.containers must be a non-empty list")
    server = [c for c in containers if isinstance(c, Mapping) and c.get("name") == N.CONTAINER]
    if not server:
        raise ValueError(f"spec.podTemplate.spec.containers has no container named {N.CONTAINER!r}")
    spec.pop("ephemeralContainers", None)
    spec.pop("nodeName", None)
    _drop_api_access_volume(spec)
    for ctr in containers + list(spec.get("initContainers") or []):
        if isinstance(ctr, dict):
            _zero_gpus(ctr)
    overhead = spec.get("overhead")
    if isinstance(overhead, dict):
        overhead.pop(N.GPU_RESOURCE, None)
    ctr = server[0]
    _force_env(ctr)
    port = N.LAUNCHER_PORT
    ctr["livenessProbe"] = {"httpGet": {"path": "/health", "port": port, "scheme": "HTTP"},
                            "initialDelaySeconds": 10, "periodSeconds": 20, "timeoutSeconds": 1,
                            "successThreshold": 1, "failureThreshold": 3}
    ctr["readinessProbe"] = {"httpGet": {"path": "/v2/vllm/instances", "port": port, "scheme": "HTTP"},
                             "initialDelaySeconds": 2, "periodSeconds": 5, "timeoutSeconds": 2,
                             "successThreshold": 1, "failureThreshold": 3}
    labels = {k: str(v) for k, v in (meta.get("labels") or {}).items()}
    labels[N.LABEL_COMPONENT] = N.COMPONENT_LAUNCHER
    labels[N.LABEL_LAUNCHER_CONFIG] = lc_name
    annotations = {k: str(v) for k, v in (meta.get("annotations") or {}).items()
                   if k not in (N.ANN_CONFIG_HASH, N.ANN_TEMPLATE_HASH, N.ANN_REQUESTER)}
    for key in (N.LABEL_NODE, N.LABEL_STUCK):
        labels.pop(key, None)
    return {"metadata": {"labels": labels, "annotations": annotations}, "spec": spec}


def _drop_api_access_volume(spec: dict[str, Any]) -> None:
    vols = spec.get("volumes")
    if not isinstance(vols, list):
        return
    gone = {v.get("name") for v in vols if isinstance(v, Mapping) and _API_ACCESS.match(str(v.get("name", "")))}
    if not gone:
        return
    spec["volumes"] = [v for v in vols if not (isinstance(v, Mapping) and v.get("name") in gone)]
    for ctr in list(spec.get("containers") or []) + list(spec.get("initContainers") or []):
        if isinstance(ctr, dict) and isinstance(ctr.get("volumeMounts"), list):
            ctr["volumeMounts"] = [m for m in ctr["volumeMounts"] if m.get("name") not in gone]


def _zero_gpus(ctr: dict[str, Any]) -> None:
    res = ctr.get("resources")
    if not isinstance(res, dict):
        return
    for part in ("limits", "requests"):
        if isinstance(res.get(part), dict) and N.GPU_RESOURCE in res[part]:
            res[part][N.GPU_RESOURCE] = "0"


def _force_env(ctr: dict[str, Any]) -> None:
    env = ctr.get("env")
    env = [dict(e) for e in env if isinstance(e, Mapping)] if isinstance(env, list) else []
    have = {e.get("name"): e for e in env}
    for key, value in N.FORCED_ENV.items():
        if key in have:
            have[key].pop("valueFrom", None)
            have[key]["value"] = value
        else:
            env.append({"name": key, "value": value})
    for key, path in N.POD_ENV.items():
        if key not in have:
            env.append({"name": key, "valueFrom": {"fieldRef": {"fieldPath": path}}})
    ctr["env"] = env


def config_hash(template_hash: str, node: str) -> str:
    return digest(f"{template_hash};node={node}")


def build_launcher_pod(lc: LauncherConfigView, node: str, namespace: str) -> Obj:
    """The launcher pod for ``node`` (to create with generateName ``launcher-<lc>-``)."""
    if not lc.ok:
        raise ValueError(f"LauncherConfig {lc.name}: " + "; ".join(lc.errors))
    pod = copy.deepcopy(lc.prototype)
    md = pod["metadata"]
    md["labels"][N.LABEL_NODE] = node
    md["annotations"][N.ANN_TEMPLATE_HASH] = lc.template_hash
    md["annotations"][N.ANN_CONFIG_HASH] = config_hash(lc.template_hash, node)
    md["generateName"] = f"launcher-{lc.name}-"[:58]
    md["namespace"] = namespace
    md["ownerReferences"] = [{
        "apiVersion": f"{N.CRD_GROUP}/{N.CRD_VERSION}", "kind": N.LC_KIND, "name": lc.name,
        "uid": lc.uid, "controller": False, "blockOwnerDeletion": False,
    }]
    pod["apiVersion"] = "v1"
    pod["kind"] = "Pod"
    pod["spec"]["nodeName"] = node
    return pod
