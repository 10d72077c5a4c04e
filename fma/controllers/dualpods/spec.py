"""The direct-mode provider Pod for a requester (BEHAVIOUR.md §2 rule 2) and its `nominal` digest.

provider = (requester spec + labels) strategic-merged with the `server-patch` (after its
``{{ .NodeName }}`` / ``{{ .LocalVolume }}`` fields are filled), then pinned: the
requester's node, ``CUDA_VISIBLE_DEVICES`` = the gpu-map indices of the requester's GPUs,
zero ``nvidia.com/gpu``, ``generateName: <requester>-dual-``. The `nominal` digest covers
the spec, labels, annotations, GPUs and node but not the binding fields, so a sleeping
provider made for an equal request is found again (hot start).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import yaml

from fma.controllers.dualpods import names as N
from fma.controllers.dualpods import pods as P
from fma.controllers.dualpods.merge import PatchError, expand_template, strategic_merge

# labels/annotations that say who is bound or asleep: never part of `nominal`
BINDING_LABELS = (N.LBL_DUAL, N.LBL_SLEEPING, N.LBL_INSTANCE)
BINDING_ANNOTATIONS = (N.ANN_REQUESTER, N.ANN_NOMINAL, N.ANN_LAST_USED, N.ANN_STATUS)
# set by Kubernetes on the requester; meaningless (or harmful) on the provider
_REQUESTER_ONLY_LABELS = ("pod-template-hash",)
_SA_TOKEN_VOLUME_PREFIX = "kube-api-access-"


@dataclass(frozen=True)
class ProviderSpec:
    pod: dict[str, Any]
    nominal: str


def parse_patch(text: str, node: str, local_volume: str) -> dict[str, Any]:
    """The `server-patch` annotation as a Pod-shaped patch ``{metadata?, spec?}``."""
    expanded = expand_template(text, {"NodeName": node, "LocalVolume": local_volume})
    try:
        doc = yaml.safe_load(expanded)
    except yaml.YAMLError as exc:
        raise PatchError(f"server-patch is not valid YAML: {exc}") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise PatchError(f"server-patch must be a YAML map, got {type(doc).__name__}")
    if "containers" in doc and "spec" not in doc:
        doc = {"spec": doc}  # a bare PodSpec patch
    unknown = set(doc) - {"metadata", "spec", "apiVersion", "kind"}
    if unknown:
        raise PatchError(f"server-patch may hold only metadata and spec, not {sorted(unknown)}")
    md = doc.get("metadata") or {}
    if not isinstance(md, dict) or set(md) - {"labels", "annotations"}:
        raise PatchError("server-patch metadata may hold only labels and annotations")
    if not isinstance(doc.get("spec") or {}, dict):
        raise PatchError("server-patch spec must be a map")
    return doc


def cuda_visible_devices(gpus: Sequence[str], node_gpus: Mapping[str, int], node: str) -> str:
    """Comma-joined gpu-map indices of ``gpus`` (ascending)."""
    missing = [u for u in gpus if u not in node_gpus]
    if missing:
        raise PatchError(f"gpu-map has no index for GPU(s) {', '.join(missing)} on node {node}")
    return ",".join(str(i) for i in sorted(int(node_gpus[u]) for u in gpus))


def provider_spec(
    requester: Mapping[str, Any],
    patch_text: str,
    node: str,
    gpus: Sequence[str],
    node_gpus: Mapping[str, int],
    local_volume: str = "",
) -> ProviderSpec:
    """Compute the provider Pod (without binding fields) and its `nominal` digest."""
    rname = P.name(requester)
    patch = parse_patch(patch_text, node, local_volume or f"fma-local-{node}")
    base_spec = copy.deepcopy(dict(requester.get("spec") or {}))
    for key in ("nodeName",):
        base_spec.pop(key, None)
    _drop_sa_token(base_spec)
    base_labels = {k: v for k, v in P.labels(requester).items()
                   if k not in BINDING_LABELS and k not in _REQUESTER_ONLY_LABELS}
    md_patch = patch.get("metadata") or {}
    labels = strategic_merge(base_labels, md_patch.get("labels") or {}, "labels")
    annotations = strategic_merge({}, md_patch.get("annotations") or {}, "annotations")
    spec = strategic_merge(base_spec, patch.get("spec") or {}, "spec")
    _check_strings(labels, "labels")
    _check_strings(annotations, "annotations")

    containers = spec.get("containers") or []
    server = next((c for c in containers if isinstance(c, dict) and c.get("name") == N.SERVER_CONTAINER), None)
    if server is None:
        raise PatchError(f"provider for {rname} has no container named {N.SERVER_CONTAINER!r}")
    spec["nodeName"] = node
    cvd = cuda_visible_devices(gpus, node_gpus, node)
    env = [e for e in server.get("env") or [] if e.get("name") != "CUDA_VISIBLE_DEVICES"]
    env.append({"name": "CUDA_VISIBLE_DEVICES", "value": cvd})
    server["env"] = env
    for c in list(containers) + list(spec.get("initContainers") or []):
        res = c.setdefault("resources", {}) if c is server else c.get("resources")
        if not res:
            continue
        for kind in ("limits", "requests"):
            if c is server or N.GPU_RESOURCE in (res.get(kind) or {}):
                res.setdefault(kind, {})[N.GPU_RESOURCE] = "0"

    for key in BINDING_LABELS:
        labels.pop(key, None)
    for key in BINDING_ANNOTATIONS:
        annotations.pop(key, None)
    annotations[N.ANN_ACCELERATORS] = ",".join(gpus)
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": f"{rname}-dual-",
            "namespace": P.meta(requester).get("namespace") or "default",
            "labels": labels,
            "annotations": annotations,
        },
        "spec": spec,
    }
    digest = nominal_digest(pod, gpus, node)
    pod["metadata"]["annotations"][N.ANN_NOMINAL] = digest
    return ProviderSpec(pod=pod, nominal=digest)


def nominal_digest(pod: Mapping[str, Any], gpus: Sequence[str], node: str) -> str:
    """Digest of spec + labels + annotations + GPUs + node, ignoring binding fields."""
    md = pod.get("metadata") or {}
    view = {
        "labels": {k: v for k, v in (md.get("labels") or {}).items() if k not in BINDING_LABELS},
        "annotations": {k: v for k, v in (md.get("annotations") or {}).items()
                        if k not in BINDING_ANNOTATIONS},
        "spec": pod.get("spec") or {},
        "gpus": sorted(gpus),
        "node": node,
    }
    raw = json.dumps(view, sort_keys=True, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(hashlib.sha256(raw).digest()).rstrip(b"=").decode()


def _drop_sa_token(spec: dict[str, Any]) -> None:
    """Remove the service-account token volume Kubernetes injected into the requester."""
    vols = spec.get("volumes") or []
    gone = {v.get("name") for v in vols if str(v.get("name", "")).startswith(_SA_TOKEN_VOLUME_PREFIX)}
    if not gone:
        return
    spec["volumes"] = [v for v in vols if v.get("name") not in gone]
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        if c.get("volumeMounts"):
            c["volumeMounts"] = [m for m in c["volumeMounts"] if m.get("name") not in gone]


def _check_strings(m: Mapping[str, Any], what: str) -> None:
    bad = [k for k, v in m.items() if not isinstance(v, str)]
    if bad:
        raise PatchError(f"server-patch {what} must be strings: {', '.join(map(str, bad))}")
