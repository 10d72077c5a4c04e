"""Strategic merge of plain dicts (the subset of Kubernetes' rules a Pod patch needs),
and the ``{{ .Field }}`` template expansion of a `server-patch`.

Rules: maps merge recursively; a ``null`` value deletes the key; a map holding
``$patch: replace`` replaces the target, ``$patch: delete`` removes it. Lists of Pod
objects that Kubernetes merges by key (containers by ``name``, ports by
``containerPort``, volumeMounts by ``mountPath`` …) merge element-wise by that key (an
element ``{name: x, $patch: delete}`` removes ``x``); every other list is replaced.
"""

from __future__ import annotations

import copy
import re
from typing import Any, Mapping

# field name -> merge key, as in the Kubernetes core/v1 Pod schema
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "env": "name",
    "ports": "containerPort",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "resourceClaims": "name",
    "topologySpreadConstraints": "topologyKey",
}

DIRECTIVE = "$patch"
_IGNORED_DIRECTIVES = ("$retainKeys", "$setElementOrder")


class PatchError(ValueError):
    """A patch that cannot be applied (wrong shape, bad directive, unknown template field)."""


def strategic_merge(base: Any, patch: Any, field: str = "") -> Any:
    """``base`` with ``patch`` merged in; neither argument is modified."""
    if isinstance(patch, Mapping):
        directive = patch.get(DIRECTIVE)
        if directive == "replace":
            return {k: copy.deepcopy(v) for k, v in patch.items() if k != DIRECTIVE}
        if directive not in (None, "merge"):
            raise PatchError(f"unsupported {DIRECTIVE} {directive!r} in field {field or '<root>'}")
        out = copy.deepcopy(dict(base)) if isinstance(base, Mapping) else {}
        for key, value in patch.items():
            if key == DIRECTIVE or any(str(key).startswith(d) for d in _IGNORED_DIRECTIVES):
                continue
            if value is None:
                out.pop(key, None)
            elif isinstance(value, Mapping) and value.get(DIRECTIVE) == "delete":
                out.pop(key, None)
            else:
                out[key] = strategic_merge(out.get(key), value, key)
        return out
    if isinstance(patch, list):
        key = MERGE_KEYS.get(field)
        if key is None or not isinstance(base, list):
            return [_strip(copy.deepcopy(x)) for x in patch if not _is_delete(x)]
        return _merge_list(base, patch, key, field)
    return copy.deepcopy(patch)


def _is_delete(item: Any) -> bool:
    return isinstance(item, Mapping) and item.get(DIRECTIVE) == "delete"


def _strip(item: Any) -> Any:
    if isinstance(item, dict):
        return {k: _strip(v) for k, v in item.items() if k != DIRECTIVE}
    return item


def _merge_list(base: list, patch: list, key: str, field: str) -> list:
    out = [copy.deepcopy(x) for x in base]
    for item in patch:
        if not isinstance(item, Mapping) or key not in item:
            raise PatchError(f"each element of {field!r} in the patch must be a map with {key!r}")
        idx = next((i for i, x in enumerate(out) if isinstance(x, Mapping) and x.get(key) == item[key]), None)
        if _is_delete(item):
            if idx is not None:
                out.pop(idx)
            continue
        if idx is None:
            out.append(_strip(copy.deepcopy(dict(item))))
        else:
            out[idx] = strategic_merge(out[idx], item, field)
    return out


_TEMPLATE = re.compile(r"\{\{\s*\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_ANY_TEMPLATE = re.compile(r"\{\{.*?\}\}", re.S)


def expand_template(text: str, fields: Mapping[str, str]) -> str:
    """Replace ``{{ .Name }}`` with ``fields[Name]``; any other ``{{ … }}`` is an error."""

    def sub(m: re.Match[str]) -> str:
        if m.group(1) not in fields:
            known = ", ".join(f".{k}" for k in sorted(fields))
            raise PatchError(f"unknown template field .{m.group(1)} (known: {known})")
        return str(fields[m.group(1)])

    out = _TEMPLATE.sub(sub, text)
    left = _ANY_TEMPLATE.search(out)
    if left:
        raise PatchError(f"unsupported template expression {left.group(0)!r}")
    return out
