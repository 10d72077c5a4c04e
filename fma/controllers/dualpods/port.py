"""What the live controller needs from Kubernetes, as a small plain-dict interface.

:class:`KubePort` is implemented by :class:`fma.controllers.dualpods.memkube.MemoryKube`
(in-process, for tests and what-if runs) and by an adapter over ``fma/kube`` (the only
package that imports the kubernetes client). Objects are dicts in the API's JSON shape.
Informer events arrive through ``watch(callback)`` as ``(kind, type, obj)`` with kind in
``pods | inferenceserverconfigs | launcherconfigs | configmaps | nodes`` and type in
``ADDED | MODIFIED | DELETED``; a list is delivered as ADDED events first.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

Obj = dict[str, Any]
WatchCallback = Callable[[str, str, Obj], None]
KINDS = ("pods", "inferenceserverconfigs", "launcherconfigs", "configmaps")


class KubeConflict(Exception):
    """409/422: a precondition (resourceVersion test, already exists) did not hold."""


class KubeNotFound(Exception):
    """404."""


class KubePort(Protocol):
    namespace: str

    def watch(self, callback: WatchCallback) -> None: ...
    def stop(self) -> None: ...
    def create_pod(self, body: Obj) -> Obj: ...
    def patch_pod(self, name: str, ops: list[dict[str, Any]]) -> Obj: ...
    def delete_pod(self, name: str) -> Obj | None: ...
    def record_event(self, obj: Obj, reason: str, message: str, type_: str = "Normal") -> None: ...


def pointer(*parts: str) -> str:
    """A JSON pointer from raw keys (``/`` and ``~`` escaped)."""
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


def apply_json_patch(obj: Obj, ops: list[dict[str, Any]]) -> Obj:
    """RFC 6902 subset (add, replace, remove, test) on a copy of ``obj``; KubeConflict on a failed test."""
    import copy

    out = copy.deepcopy(obj)
    for op in ops:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        parent: Any = out
        for p in parts[:-1]:
            parent = parent[int(p)] if isinstance(parent, list) else parent.setdefault(p, {}) \
                if op["op"] == "add" else parent[p]
        last = parts[-1]
        kind = op["op"]
        if kind == "test":
            try:
                have = parent[int(last)] if isinstance(parent, list) else parent[last]
            except (KeyError, IndexError, ValueError):
                raise KubeConflict(f"test failed: {op['path']} absent") from None
            if have != op["value"]:
                raise KubeConflict(f"test failed: {op['path']} is {have!r}, not {op['value']!r}")
        elif kind in ("add", "replace"):
            if isinstance(parent, list):
                if last == "-":
                    parent.append(op["value"])
                else:
                    parent.insert(int(last), op["value"]) if kind == "add" else parent.__setitem__(int(last), op["value"])
            else:
                if kind == "replace" and last not in parent:
                    raise KubeConflict(f"replace: {op['path']} absent")
                parent[last] = op["value"]
        elif kind == "remove":
            try:
                if isinstance(parent, list):
                    parent.pop(int(last))
                else:
                    del parent[last]
            except (KeyError, IndexError):
                raise KubeConflict(f"remove: {op['path']} absent") from None
        else:
            raise ValueError(f"unsupported JSON patch op {kind!r}")
    return out
