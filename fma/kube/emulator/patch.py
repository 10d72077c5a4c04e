"""The three patch kinds of the API server: JSON patch (RFC 6902, with ``test``),
JSON merge patch (RFC 7386) and strategic merge patch (built-in kinds only).

Strategic merge knows the merge keys of the pod fields FMA touches (containers, env,
volumes, ports, volumeMounts, conditions, ownerReferences, ...), the ``$patch: delete``
and ``$patch: replace`` directives and ``$deleteFromPrimitiveList``; ``finalizers`` merge
as a set. Lists without a known merge key are replaced, as in Kubernetes.
"""

from __future__ import annotations

import copy
from typing import Any

Obj = dict[str, Any]


class PatchError(Exception):
    """A patch that cannot be applied (``code``: 400 malformed, 422 failed test/path)."""

    def __init__(self, message: str, code: int = 422) -> None:
        super().__init__(message)
        self.code = code


# field name -> merge key (as the Go types' patchMergeKey tags say)
MERGE_KEYS: dict[str, str] = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name",
    "env": "name", "volumes": "name", "imagePullSecrets": "name", "ports": "containerPort",
    "volumeMounts": "mountPath", "volumeDevices": "devicePath", "conditions": "type",
    "ownerReferences": "uid", "hostAliases": "ip", "readinessGates": "conditionType",
    "resourceClaims": "name", "topologySpreadConstraints": "topologyKey",
}
PRIMITIVE_MERGE_LISTS = {"finalizers"}


# ---------------------------------------------------------------- JSON merge patch
def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: maps merge recursively, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


# ---------------------------------------------------------------- strategic merge patch
def strategic_merge(target: Any, patch: Any, field: str = "") -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if patch.get("$patch") == "delete":
        return None
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if k.startswith("$setElementOrder/") or k == "$retainKeys" or k == "$patch":
            continue
        if k.startswith("$deleteFromPrimitiveList/"):
            name = k.split("/", 1)[1]
            drop = set(v or [])
            out[name] = [x for x in out.get(name) or [] if x not in drop]
            continue
        if v is None:
            out.pop(k, None)
        elif isinstance(v, list):
            out[k] = _merge_list(out.get(k), v, k)
        elif isinstance(v, dict):
            merged = strategic_merge(out.get(k), v, k)
            if merged is None:
                out.pop(k, None)
            else:
                out[k] = merged
        else:
            out[k] = copy.deepcopy(v)
    return out


def _merge_list(current: Any, patch: list[Any], field: str) -> list[Any]:
    cur = list(current) if isinstance(current, list) else []
    if field in PRIMITIVE_MERGE_LISTS:
        return cur + [x for x in patch if x not in cur]
    key = MERGE_KEYS.get(field)
    if key is None or not all(isinstance(x, dict) for x in patch):
        return [copy.deepcopy(x) for x in patch if not (isinstance(x, dict) and x.get("$patch") == "delete")]
    if any(isinstance(x, dict) and x.get("$patch") == "replace" for x in patch):
        return [copy.deepcopy({k: v for k, v in x.items() if k != "$patch"}) for x in patch
                if x.get("$patch") != "replace"]
    out = [copy.deepcopy(x) for x in cur]
    for item in patch:
        if key not in item:
            raise PatchError(f"map: {item} does not contain declared merge key: {key}", 400)
        idx = next((i for i, x in enumerate(out) if isinstance(x, dict) and x.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                out.pop(idx)
            continue
        if idx is None:
            out.append(strategic_merge({}, item, field))
        else:
            out[idx] = strategic_merge(out[idx], item, field)
    return out


# ---------------------------------------------------------------- JSON patch
def _unescape(tok: str) -> str:
    return tok.replace("~1", "/").replace("~0", "~")


def _walk(doc: Any, path: str) -> tuple[Any, str]:
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}", 400)
    toks = [_unescape(t) for t in path.split("/")[1:]]
    cur = doc
    for t in toks[:-1]:
        try:
            cur = cur[int(t)] if isinstance(cur, list) else cur[t]
        except (KeyError, IndexError, ValueError, TypeError):
            raise PatchError(f"doc is missing path: {path!r}") from None
    return cur, toks[-1]


def _get(doc: Any, path: str) -> Any:
    if path == "":
        return doc
    parent, last = _walk(doc, path)
    try:
        return parent[int(last)] if isinstance(parent, list) else parent[last]
    except (KeyError, IndexError, ValueError, TypeError):
        raise PatchError(f"doc is missing path: {path!r}") from None


def _add(doc: Any, path: str, value: Any, replace: bool = False) -> Any:
    if path == "":
        return value
    parent, last = _walk(doc, path)
    if isinstance(parent, list):
        if last == "-":
            if replace:
                raise PatchError(f"replace operation does not apply: doc is missing key: {path}")
            parent.append(value)
            return doc
        try:
            i = int(last)
        except ValueError:
            raise PatchError(f"invalid array index {last!r} in {path!r}") from None
        if i < 0 or i > len(parent) or (replace and i >= len(parent)):
            raise PatchError(f"index out of bounds: {path!r}")
        if replace:
            parent[i] = value
        else:
            parent.insert(i, value)
    elif isinstance(parent, dict):
        if replace and last not in parent:
            raise PatchError(f"replace operation does not apply: doc is missing key: {path}: missing value")
        parent[last] = value
    else:
        raise PatchError(f"doc is missing path: {path!r}")
    return doc


def _remove(doc: Any, path: str) -> Any:
    parent, last = _walk(doc, path)
    try:
        if isinstance(parent, list):
            parent.pop(int(last))
        else:
            del parent[last]
    except (KeyError, IndexError, ValueError, TypeError):
        raise PatchError(f"remove operation does not apply: doc is missing path: {path!r}: missing value") from None
    return doc


def json_patch(doc: Any, ops: Any) -> Any:
    """Apply RFC 6902 ``ops`` to a copy of ``doc``; a failed ``test`` raises PatchError (422)."""
    if not isinstance(ops, list):
        raise PatchError("json: cannot unmarshal object into Go value of type jsonpatch.Patch", 400)
    out = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError(f"invalid JSON patch operation {op!r}", 400)
        kind, path = op["op"], op["path"]
        if kind == "add":
            out = _add(out, path, copy.deepcopy(op.get("value")))
        elif kind == "replace":
            out = _add(out, path, copy.deepcopy(op.get("value")), replace=True)
        elif kind == "remove":
            out = _remove(out, path)
        elif kind == "test":
            try:
                have = _get(out, path)
            except PatchError:
                have = None
            if have != op.get("value"):
                raise PatchError(f"testing value {path} failed: test failed")
        elif kind in ("move", "copy"):
            val = copy.deepcopy(_get(out, op.get("from", "")))
            if kind == "move":
                out = _remove(out, op["from"])
            out = _add(out, path, val)
        else:
            raise PatchError(f"Unexpected kind: {kind}", 400)
    return out
