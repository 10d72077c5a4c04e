"""An in-memory pod store with the LocalKube calls the scheduler and kubelet make.

For unit tests and benchmarks of ``fma local``'s parts without an API server: create,
get, merge-patch, status patch, bind, graceful delete (deletionTimestamp, finalizers),
and list+watch delivered to callbacks. Not a Kubernetes API server: no validation.
"""

from __future__ import annotations

import copy
import itertools
import threading
import uuid
from datetime import datetime, timezone
from typing import Any, Callable

Obj = dict[str, Any]


class NotFound(Exception):
    pass


class Conflict(Exception):
    pass


def _merge(dst: Obj, patch: Obj) -> Obj:
    for k, v in patch.items():
        if v is None:
            dst.pop(k, None)
        elif isinstance(v, dict) and isinstance(dst.get(k), dict):
            _merge(dst[k], v)
        else:
            dst[k] = copy.deepcopy(v)
    return dst


class MemKube:
    def __init__(self) -> None:
        self.pods: dict[str, Obj] = {}
        self._lock = threading.RLock()
        self._rv = itertools.count(1)
        self._watchers: list[Callable[[str, Obj], None]] = []

    def _emit(self, typ: str, pod: Obj) -> None:
        for w in list(self._watchers):
            w(typ, copy.deepcopy(pod))

    def _bump(self, pod: Obj) -> None:
        pod["metadata"]["resourceVersion"] = str(next(self._rv))

    def create_pod(self, namespace: str, pod: Obj) -> Obj:
        with self._lock:
            pod = copy.deepcopy(pod)
            meta = pod.setdefault("metadata", {})
            if not meta.get("name"):
                meta["name"] = meta.get("generateName", "pod-") + uuid.uuid4().hex[:5]
            meta["namespace"] = namespace
            key = f"{namespace}/{meta['name']}"
            if key in self.pods:
                raise Conflict(key)
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            pod.setdefault("status", {"phase": "Pending"})
            self._bump(pod)
            self.pods[key] = pod
            self._emit("ADDED", pod)
            return copy.deepcopy(pod)

    def get_pod(self, namespace: str, name: str) -> Obj:
        with self._lock:
            try:
                return copy.deepcopy(self.pods[f"{namespace}/{name}"])
            except KeyError:
                raise NotFound(f"pod {namespace}/{name}") from None

    def patch_pod(self, namespace: str, name: str, patch: Obj) -> Obj:
        with self._lock:
            key = f"{namespace}/{name}"
            if key not in self.pods:
                raise NotFound(f"pod {key}")
            pod = _merge(self.pods[key], patch)
            self._bump(pod)
            self._emit("MODIFIED", pod)
            self._maybe_finalize(key)
            return copy.deepcopy(pod)

    def patch_pod_status(self, namespace: str, name: str, status: Obj) -> Obj:
        return self.patch_pod(namespace, name, {"status": status})

    def bind_pod(self, namespace: str, name: str, node: str, annotations: dict[str, str] | None = None) -> None:
        with self._lock:
            pod = self.get_pod(namespace, name)
            if pod["spec"].get("nodeName"):
                raise Conflict(f"pod {namespace}/{name} already bound")
            self.patch_pod(namespace, name, {"metadata": {"annotations": dict(annotations or {})},
                                             "spec": {"nodeName": node}})

    def delete_pod(self, namespace: str, name: str, grace_seconds: int | None = None) -> None:
        with self._lock:
            key = f"{namespace}/{name}"
            pod = self.pods.get(key)
            if pod is None:
                return
            meta = pod["metadata"]
            grace = grace_seconds if grace_seconds is not None else pod["spec"].get("terminationGracePeriodSeconds", 30)
            running = bool(pod["spec"].get("nodeName")) and pod.get("status", {}).get("phase") not in ("Succeeded", "Failed")
            now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            if running and grace > 0:
                if not meta.get("deletionTimestamp"):
                    meta["deletionTimestamp"] = now
                    meta["deletionGracePeriodSeconds"] = grace
                    self._bump(pod)
                    self._emit("MODIFIED", pod)
                return
            if meta.get("finalizers"):
                meta.setdefault("deletionTimestamp", now)
                meta["deletionGracePeriodSeconds"] = 0
                self._bump(pod)
                self._emit("MODIFIED", pod)
                return
            del self.pods[key]
            self._emit("DELETED", pod)

    def _maybe_finalize(self, key: str) -> None:
        pod = self.pods.get(key)
        if pod and pod["metadata"].get("deletionTimestamp") and not pod["metadata"].get("finalizers") \
                and pod["metadata"].get("deletionGracePeriodSeconds") == 0:
            del self.pods[key]
            self._emit("DELETED", pod)

    def list_pods(self, namespace: str | None = None, label_selector: str = "") -> Obj:
        with self._lock:
            return {"items": [copy.deepcopy(p) for p in self.pods.values()], "metadata": {"resourceVersion": "0"}}

    def watch_pods(self, on_event: Callable[[str, Obj], None], stop: threading.Event,
                   namespace: str | None = None, label_selector: str = "") -> None:
        with self._lock:
            for p in self.pods.values():
                on_event("ADDED", copy.deepcopy(p))
            self._watchers.append(on_event)
        stop.wait()
        with self._lock:
            self._watchers.remove(on_event)
