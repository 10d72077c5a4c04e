"""An in-process API server for the dual-pods controller's :class:`KubePort`.

Objects live in memory with resourceVersions, uids, generateName, finalizers and graceful
deletion (a pod with finalizers gets a deletionTimestamp and goes when they are gone).
Watch events are delivered from a dispatcher thread, so the controller sees them late,
as it would from a real informer. Tests play the kubelet with :meth:`set_pod_status`.
"""

from __future__ import annotations

import copy
import itertools
import queue
import threading
import time
import uuid
from typing import Any

from fma.controllers.dualpods.port import (
    KubeConflict, KubeNotFound, Obj, WatchCallback, apply_json_patch,
)


class MemoryKube:
    def __init__(self, namespace: str = "default") -> None:
        self.namespace = namespace
        self._objs: dict[str, dict[str, Obj]] = {}
        self._lock = threading.RLock()
        self._rv = itertools.count(1)
        self._watchers: list[WatchCallback] = []
        self._q: queue.Queue[tuple[str, str, Obj] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.events: list[tuple[str, str, str, str]] = []  # (object, type, reason, message)
        self.calls: list[tuple[str, str]] = []  # (verb, name) of controller writes

    # ---- port ----------------------------------------------------------------------
    def watch(self, callback: WatchCallback) -> None:
        with self._lock:
            self._watchers.append(callback)
            snapshot = [(k, copy.deepcopy(o)) for k, objs in self._objs.items() for o in objs.values()]
        for kind, obj in snapshot:
            callback(kind, "ADDED", obj)
        if self._thread is None:
            self._thread = threading.Thread(target=self._dispatch, name="memkube-watch", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._q.put(None)
            self._thread.join(5)
            self._thread = None
        with self._lock:
            self._watchers.clear()

    def create_pod(self, body: Obj) -> Obj:
        self.calls.append(("create", body.get("metadata", {}).get("generateName", "")))
        return self.create("pods", body)

    def patch_pod(self, name: str, ops: list[dict[str, Any]]) -> Obj:
        self.calls.append(("patch", name))
        return self.patch("pods", name, ops)

    def delete_pod(self, name: str) -> Obj | None:
        self.calls.append(("delete", name))
        return self.delete("pods", name)

    def record_event(self, obj: Obj, reason: str, message: str, type_: str = "Normal") -> None:
        self.events.append(((obj.get("metadata") or {}).get("name", ""), type_, reason, message))

    # ---- generic API (tests use these to play users, scheduler and kubelet) ---------
    def create(self, kind: str, body: Obj) -> Obj:
        obj = copy.deepcopy(body)
        md = obj.setdefault("metadata", {})
        with self._lock:
            if not md.get("name"):
                if not md.get("generateName"):
                    raise ValueError("name or generateName required")
                md["name"] = md["generateName"] + uuid.uuid4().hex[:5]
            objs = self._objs.setdefault(kind, {})
            if md["name"] in objs:
                raise KubeConflict(f"{kind} {md['name']} already exists")
            md.setdefault("namespace", self.namespace)
            md["uid"] = str(uuid.uuid4())
            md["creationTimestamp"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            md["resourceVersion"] = str(next(self._rv))
            obj.setdefault("status", {})
            objs[md["name"]] = obj
            self._emit(kind, "ADDED", obj)
            return copy.deepcopy(obj)

    def get(self, kind: str, name: str) -> Obj | None:
        with self._lock:
            obj = self._objs.get(kind, {}).get(name)
            return copy.deepcopy(obj) if obj is not None else None

    def list(self, kind: str) -> list[Obj]:
        with self._lock:
            return [copy.deepcopy(o) for o in self._objs.get(kind, {}).values()]

    def patch(self, kind: str, name: str, ops: list[dict[str, Any]]) -> Obj:
        with self._lock:
            cur = self._objs.get(kind, {}).get(name)
            if cur is None:
                raise KubeNotFound(f"{kind} {name} not found")
            new = apply_json_patch(cur, ops)
            return self._store(kind, cur, new)

    def update(self, kind: str, name: str, mutate: Any) -> Obj:
        """Apply ``mutate(obj)`` (in place) to a copy and store it; for tests."""
        with self._lock:
            cur = self._objs.get(kind, {}).get(name)
            if cur is None:
                raise KubeNotFound(f"{kind} {name} not found")
            new = copy.deepcopy(cur)
            mutate(new)
            return self._store(kind, cur, new)

    def _store(self, kind: str, cur: Obj, new: Obj) -> Obj:
        md = new["metadata"]
        if cur["metadata"].get("deletionTimestamp"):
            added = set(md.get("finalizers") or []) - set(cur["metadata"].get("finalizers") or [])
            if added:
                raise KubeConflict(f"{md['name']}: no new finalizers on an object being deleted")
        md["resourceVersion"] = str(next(self._rv))
        name = md["name"]
        if md.get("deletionTimestamp") and not md.get("finalizers"):
            del self._objs[kind][name]
            self._emit(kind, "DELETED", new)
            return copy.deepcopy(new)
        self._objs[kind][name] = new
        self._emit(kind, "MODIFIED", new)
        return copy.deepcopy(new)

    def delete(self, kind: str, name: str) -> Obj | None:
        with self._lock:
            cur = self._objs.get(kind, {}).get(name)
            if cur is None:
                raise KubeNotFound(f"{kind} {name} not found")
            if cur["metadata"].get("finalizers"):
                if cur["metadata"].get("deletionTimestamp"):
                    return copy.deepcopy(cur)
                new = copy.deepcopy(cur)
                new["metadata"]["deletionTimestamp"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                return self._store(kind, cur, new)
            del self._objs[kind][name]
            cur = copy.deepcopy(cur)
            cur["metadata"]["resourceVersion"] = str(next(self._rv))
            self._emit(kind, "DELETED", cur)
            return None

    def set_pod_status(self, name: str, ready: bool, ip: str | None = None, phase: str = "Running") -> Obj:
        def mut(p: Obj) -> None:
            st = p.setdefault("status", {})
            if ip is not None:
                st["podIP"] = ip
            st["phase"] = phase
            st["conditions"] = [{"type": "Ready", "status": "True" if ready else "False"}]
        return self.update("pods", name, mut)

    # ---- plumbing -------------------------------------------------------------------
    def _emit(self, kind: str, type_: str, obj: Obj) -> None:
        self._q.put((kind, type_, copy.deepcopy(obj)))

    def _dispatch(self) -> None:
        while True:
            item = self._q.get()
            if item is None:
                return
            with self._lock:
                watchers = list(self._watchers)
            for cb in watchers:
                try:
                    cb(*item)
                except Exception:  # a watcher's bug must not stop the stream
                    import logging
                    logging.getLogger(__name__).exception("watch callback failed")
