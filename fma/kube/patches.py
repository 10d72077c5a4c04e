"""Patch helpers: safe annotation/label updates (JSON patch guarded by a ``test`` of the
resourceVersion, so a concurrent writer makes them fail with Invalid/Conflict instead of
being overwritten), and finalizer add/remove."""

from __future__ import annotations

from typing import Any, Mapping

from fma.kube.client import Rest

Obj = dict[str, Any]


def pointer(*parts: str) -> str:
    """A JSON pointer from raw keys (``/`` and ``~`` escaped)."""
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


def annotation_ops(obj: Obj, annotations: Mapping[str, str | None], field: str = "annotations",
                   guard: bool = True) -> list[Obj]:
    """JSON-patch ops setting (value) or removing (None) annotations/labels of ``obj``;
    with ``guard`` the first op tests ``obj``'s resourceVersion."""
    md = obj.get("metadata") or {}
    have = md.get(field)
    ops: list[Obj] = []
    if guard:
        ops.append({"op": "test", "path": "/metadata/resourceVersion", "value": md.get("resourceVersion")})
    if have is None:
        ops.append({"op": "add", "path": f"/metadata/{field}", "value": {}})
        have = {}
    for k, v in annotations.items():
        path = pointer("metadata", field, k)
        if v is None:
            if k in have:
                ops.append({"op": "remove", "path": path})
        else:
            ops.append({"op": "add", "path": path, "value": v})
    return ops


def patch_pod_annotations(rest: Rest, namespace: str, name: str, annotations: Mapping[str, str | None],
                          expect: Obj | None = None) -> Obj:
    """Set/remove pod annotations; with ``expect`` (the pod as last seen) the patch fails
    (``Invalid``, 422) when the pod changed since."""
    if expect is None:
        return rest.patch("pods", namespace, name, {"metadata": {"annotations": dict(annotations)}}, "merge")
    return rest.patch("pods", namespace, name, annotation_ops(expect, annotations), "json")


def patch_labels(rest: Rest, kind_name: str, namespace: str | None, name: str,
                 labels: Mapping[str, str | None]) -> Obj:
    return rest.patch(kind_name, namespace, name, {"metadata": {"labels": dict(labels)}}, "merge")


def add_finalizer(rest: Rest, kind_name: str, namespace: str | None, name: str, finalizer: str) -> Obj:
    """Add ``finalizer`` unless present (resourceVersion-guarded; retries on a race)."""
    for _ in range(5):
        obj = rest.get(kind_name, namespace, name)
        fins = list(obj["metadata"].get("finalizers") or [])
        if finalizer in fins:
            return obj
        try:
            return rest.patch(kind_name, namespace, name, {"metadata": {
                "finalizers": fins + [finalizer], "resourceVersion": obj["metadata"]["resourceVersion"]}}, "merge")
        except Exception as exc:  # noqa: BLE001 - conflict: read again
            if getattr(exc, "status", None) != 409:
                raise
    raise RuntimeError(f"could not add finalizer {finalizer} to {kind_name} {namespace}/{name}: too many conflicts")


def remove_finalizer(rest: Rest, kind_name: str, namespace: str | None, name: str, finalizer: str) -> Obj | None:
    """Remove ``finalizer`` if present; None when the object is gone (perhaps because of it)."""
    from fma.kube.client import NotFound

    for _ in range(5):
        try:
            obj = rest.get(kind_name, namespace, name)
        except NotFound:
            return None
        fins = list(obj["metadata"].get("finalizers") or [])
        if finalizer not in fins:
            return obj
        fins.remove(finalizer)
        try:
            return rest.patch(kind_name, namespace, name, {"metadata": {
                "finalizers": fins or None, "resourceVersion": obj["metadata"]["resourceVersion"]}}, "merge")
        except NotFound:
            return None
        except Exception as exc:  # noqa: BLE001
            if getattr(exc, "status", None) != 409:
                raise
    raise RuntimeError(f"could not remove finalizer {finalizer} from {kind_name} {namespace}/{name}")
