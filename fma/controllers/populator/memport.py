"""An in-memory stand-in for the API server, shaped like :class:`PopulatorPort`.

Watch events are queued and handed over only by :meth:`MemoryPort.deliver` (all, or the
first *n*), so a test decides how slow the watch is. Deletions are immediate unless a
grace is asked for. Builders for nodes, LauncherConfigs and policies are here too.
"""

from __future__ import annotations

import copy
import itertools
import threading
from collections import deque
from datetime import datetime, timezone
from typing import Any, Callable

from fma.controllers.populator import names as N
from fma.controllers.populator.port import KINDS, Obj, PortConflict, PortNotFound, WatchCallback


def rfc3339(t: float) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class MemoryPort:
    def __init__(self, namespace: str = "default", clock: Callable[[], float] | None = None) -> None:
        import time

        self.namespace = namespace
        self.clock = clock or time.time
        self.objects: dict[str, dict[str, Obj]] = {k: {} for k in KINDS}
        self.events: list[dict[str, Any]] = []
        self.calls: list[tuple[str, str]] = []  # (verb, name): what the populator did
        self._rv = itertools.count(1)
        self._ids = itertools.count(1)
        self._queue: deque[tuple[str, str, Obj]] = deque()
        self._callbacks: list[WatchCallback] = []
        self._lock = threading.RLock()
        self.fail_next: dict[str, Exception] = {}  # verb -> exception raised once

    # ---- the world (tests and simulators write here) --------------------------------
    def put(self, kind: str, obj: Obj) -> Obj:
        with self._lock:
            obj = copy.deepcopy(obj)
            md = obj.setdefault("metadata", {})
            name = md["name"]
            old = self.objects[kind].get(name)
            md.setdefault("namespace", self.namespace)
            md["uid"] = (old or {}).get("metadata", {}).get("uid") or md.get("uid") or f"uid-{next(self._ids)}"
            md.setdefault("creationTimestamp", (old or {}).get("metadata", {}).get("creationTimestamp")
                          or rfc3339(self.clock()))
            if kind in ("launcherconfigs", "launcherpopulationpolicies"):
                prev_gen = int((old or {}).get("metadata", {}).get("generation") or 0)
                changed = old is None or old.get("spec") != obj.get("spec")
                md["generation"] = prev_gen + 1 if changed else prev_gen
                if old is not None and "status" not in obj and "status" in old:
                    obj["status"] = old["status"]
            md["resourceVersion"] = str(next(self._rv))
            self.objects[kind][name] = obj
            self._emit(kind, "MODIFIED" if old else "ADDED", obj)
            return copy.deepcopy(obj)

    def remove(self, kind: str, name: str) -> None:
        with self._lock:
            obj = self.objects[kind].pop(name, None)
            if obj is not None:
                self._emit(kind, "DELETED", obj)

    def get(self, kind: str, name: str) -> Obj | None:
        with self._lock:
            obj = self.objects[kind].get(name)
            return copy.deepcopy(obj) if obj is not None else None

    def pods(self) -> list[Obj]:
        with self._lock:
            return [copy.deepcopy(p) for p in self.objects["pods"].values()]

    def set_pod_status(self, name: str, scheduled: bool = True, ready: bool = True,
                       at: float | None = None, phase: str | None = None) -> Obj:
        """What a scheduler and kubelet would report for the pod."""
        with self._lock:
            pod = copy.deepcopy(self.objects["pods"][name])
            t = rfc3339(self.clock() if at is None else at)
            conds = [{"type": "PodScheduled", "status": "True" if scheduled else "False", "lastTransitionTime": t}]
            if scheduled:
                conds.append({"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": t})
            pod["status"] = {"phase": phase or ("Running" if scheduled else "Pending"), "conditions": conds}
            if scheduled:
                pod["status"]["startTime"] = t
            return self.put("pods", pod)

    def bind(self, name: str, requester: str = "req") -> Obj:
        """Mark a launcher bound, as the dual-pods controller would."""
        with self._lock:
            pod = copy.deepcopy(self.objects["pods"][name])
            pod["metadata"].setdefault("annotations", {})[N.ANN_REQUESTER] = f"uid-{requester} {requester}"
            return self.put("pods", pod)

    def unbind(self, name: str) -> Obj:
        with self._lock:
            pod = copy.deepcopy(self.objects["pods"][name])
            pod["metadata"].get("annotations", {}).pop(N.ANN_REQUESTER, None)
            return self.put("pods", pod)

    # ---- watch ------------------------------------------------------------------------
    def _emit(self, kind: str, type_: str, obj: Obj) -> None:
        if kind == "pods" and N.LABEL_LAUNCHER_CONFIG not in (obj["metadata"].get("labels") or {}):
            return
        self._queue.append((kind, type_, copy.deepcopy(obj)))

    def watch(self, callback: WatchCallback) -> None:
        with self._lock:
            self._callbacks.append(callback)
            for kind in KINDS:  # the initial list
                for obj in self.objects[kind].values():
                    if kind != "pods" or N.LABEL_LAUNCHER_CONFIG in (obj["metadata"].get("labels") or {}):
                        callback(kind, "ADDED", copy.deepcopy(obj))

    def pending_events(self) -> int:
        return len(self._queue)

    def deliver(self, n: int | None = None) -> int:
        """Hand queued watch events to the watchers (all, or the first ``n``)."""
        done = 0
        while self._queue and (n is None or done < n):
            with self._lock:
                kind, type_, obj = self._queue.popleft()
                callbacks = list(self._callbacks)
            for cb in callbacks:
                cb(kind, type_, obj)
            done += 1
        return done

    def stop(self) -> None:
        self._callbacks.clear()

    # ---- writes of the populator ------------------------------------------------------
    def _maybe_fail(self, verb: str) -> None:
        exc = self.fail_next.pop(verb, None)
        if exc is not None:
            raise exc

    def get_pod(self, name: str) -> Obj | None:
        self._maybe_fail("get")
        return self.get("pods", name)

    def create_pod(self, body: Obj) -> Obj:
        with self._lock:
            self._maybe_fail("create")
            body = copy.deepcopy(body)
            md = body.setdefault("metadata", {})
            if not md.get("name"):
                md["name"] = f"{md.get('generateName', 'pod-')}{next(self._ids):05x}"
            if md["name"] in self.objects["pods"]:
                raise PortConflict(f"pod {md['name']} already exists")
            self.calls.append(("create", md["name"]))
            return self.put("pods", body)

    def delete_pod(self, name: str, uid: str, resource_version: str) -> None:
        with self._lock:
            self._maybe_fail("delete")
            pod = self.objects["pods"].get(name)
            if pod is None:
                raise PortNotFound(f"pod {name} not found")
            md = pod["metadata"]
            if md["uid"] != uid or (resource_version and md["resourceVersion"] != resource_version):
                raise PortConflict(f"pod {name}: precondition failed (uid/resourceVersion changed)")
            self.calls.append(("delete", name))
            self.remove("pods", name)

    def patch_pod_labels(self, name: str, labels: dict[str, str | None]) -> Obj:
        with self._lock:
            self._maybe_fail("patch")
            pod = self.objects["pods"].get(name)
            if pod is None:
                raise PortNotFound(f"pod {name} not found")
            pod = copy.deepcopy(pod)
            have = pod["metadata"].setdefault("labels", {})
            for k, v in labels.items():
                if v is None:
                    have.pop(k, None)
                else:
                    have[k] = v
            self.calls.append(("patch", name))
            return self.put("pods", pod)

    def update_status(self, kind: str, name: str, status: Obj) -> None:
        with self._lock:
            obj = self.objects[kind].get(name)
            if obj is None:
                raise PortNotFound(f"{kind} {name} not found")
            obj = copy.deepcopy(obj)
            obj["status"] = copy.deepcopy(status)
            self.calls.append(("status", name))
            self.put(kind, obj)

    def record_event(self, obj: Obj, reason: str, message: str, type_: str = "Normal") -> None:
        md = obj.get("metadata") or {}
        self.events.append({"kind": obj.get("kind", "Pod"), "name": md.get("name"), "reason": reason,
                            "message": message, "type": type_})


# ---- builders -------------------------------------------------------------------------

def make_node(name: str, labels: dict[str, str] | None = None, gpus: int = 8, **alloc: str) -> Obj:
    allocatable = {"nvidia.com/gpu": str(gpus), "cpu": "64", "memory": "512Gi", **alloc}
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels or {}},
            "status": {"allocatable": allocatable}}


def make_lc(name: str, image: str = "fma-launcher:1", max_instances: int = 2, **extra: Any) -> Obj:
    ctr = {"name": N.CONTAINER, "image": image, "args": ["launcher", "--port=8001"], **extra}
    return {"apiVersion": f"{N.CRD_GROUP}/{N.CRD_VERSION}", "kind": N.LC_KIND, "metadata": {"name": name},
            "spec": {"maxInstances": max_instances, "podTemplate": {"spec": {"containers": [ctr]}}}}


def make_lpp(name: str, counts: dict[str, int], match_labels: dict[str, str] | None = None,
             resources: dict[str, dict[str, Any]] | None = None) -> Obj:
    ens: dict[str, Any] = {"labelSelector": {"matchLabels": match_labels or {}}}
    if resources:
        ens["allocatableResources"] = resources
    return {"apiVersion": f"{N.CRD_GROUP}/{N.CRD_VERSION}", "kind": N.LPP_KIND, "metadata": {"name": name},
            "spec": {"enhancedNodeSelector": ens,
                     "countForLauncher": [{"launcherConfigName": k, "launcherCount": v} for k, v in counts.items()]}}
