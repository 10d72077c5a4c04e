"""The scheduler loop: binds pending pods to nodes and gives them GPU UUIDs.

Decisions come from :mod:`fma.local.placement` (pure). The loop watches all pods; a pod
with no ``spec.nodeName`` is placed, its GPUs written to the ``local.fma.llm-d.ai/gpus``
annotation and the pod bound (``pods/binding``). A pod's GPUs are free again once it is
terminal (Succeeded/Failed) or gone. Pods that fit nowhere are retried whenever a pod
finishes or a node is added, and every few seconds; the reason is logged once per change.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any, Callable

from fma.local.placement import ANN_GPUS, ClusterState, Unschedulable

log = logging.getLogger(__name__)
Obj = dict[str, Any]


def pod_key(pod: Obj) -> str:
    m = pod.get("metadata") or {}
    return f"{m.get('namespace')}/{m.get('name')}"


class Scheduler:
    def __init__(self, kube: Any, state: ClusterState, scheduler_name: str = "default-scheduler",
                 on_decision: Callable[[str, str], None] | None = None) -> None:
        self.kube = kube
        self.state = state
        self.scheduler_name = scheduler_name
        self.on_decision = on_decision
        self.pending: dict[str, Obj] = {}
        self._why: dict[str, str] = {}
        self._uids: dict[str, str] = {}
        self._q: queue.Queue[tuple[str, Obj]] = queue.Queue()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.bound = 0

    def start(self) -> None:
        for target, name in ((self._watch, "scheduler-watch"), (self._loop, "scheduler-loop")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def close(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5)

    def _watch(self) -> None:
        self.kube.watch_pods(lambda typ, pod: self._q.put((typ, pod)), self._stop)

    def _loop(self) -> None:
        last_retry = 0.0
        while not self._stop.is_set():
            dirty = False
            try:
                typ, pod = self._q.get(timeout=0.1)
                dirty |= self._on_event(typ, pod)
                while True:
                    typ, pod = self._q.get_nowait()
                    dirty |= self._on_event(typ, pod)
            except queue.Empty:
                pass
            except Exception:  # noqa: BLE001
                log.exception("scheduler event error")
            if dirty or time.monotonic() - last_retry > 2.0:
                last_retry = time.monotonic()
                try:
                    self._schedule_pending()
                except Exception:  # noqa: BLE001
                    log.exception("scheduler error")

    def _on_event(self, typ: str, pod: Obj) -> bool:
        """Update the books; True when capacity may have been freed or a pod wants placing."""
        key = pod_key(pod)
        meta = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        phase = (pod.get("status") or {}).get("phase")
        uid = str(meta.get("uid"))
        if typ == "DELETED" or phase in ("Succeeded", "Failed"):
            if self._uids.get(key) == uid or typ == "DELETED":
                self.state.release(key)
                self._uids.pop(key, None)
            self.pending.pop(key, None)
            return True
        if spec.get("nodeName"):
            self.pending.pop(key, None)
            if self._uids.get(key) != uid:
                gpus = [u for u in ((meta.get("annotations") or {}).get(ANN_GPUS) or "").split(",") if u]
                self.state.record(key, spec["nodeName"], gpus)
                self._uids[key] = uid
            return False
        if meta.get("deletionTimestamp") or self._uids.get(key) == uid:  # going, or bound by us already
            self.pending.pop(key, None)
            return False
        if (spec.get("schedulerName") or "default-scheduler") != self.scheduler_name:
            return False
        self.pending[key] = pod
        return True

    def _schedule_pending(self) -> None:
        # Oldest first; ties (timestamps have one-second resolution) keep arrival order, so
        # requesters created in a row get GPUs in the order they were made.
        for key in sorted(self.pending, key=lambda k: self.pending[k]["metadata"].get("creationTimestamp") or ""):
            pod = self.pending[key]
            try:
                placement = self.state.place(pod)
            except Unschedulable as exc:
                if self._why.get(key) != str(exc):
                    self._why[key] = str(exc)
                    log.info("pod %s unschedulable: %s", key, exc)
                    self._decide(key, f"unschedulable: {exc}")
                continue
            except ValueError as exc:
                log.error("pod %s cannot be scheduled: %s", key, exc)
                continue
            ns, name = key.split("/", 1)
            ann = {ANN_GPUS: ",".join(placement.gpus)} if placement.gpus else None
            try:
                self.kube.bind_pod(ns, name, placement.node, ann)
            except Exception as exc:  # noqa: BLE001 - gone or conflict: the watch will tell
                log.warning("pod %s: binding to %s failed: %s", key, placement.node, exc)
                del self.pending[key]
                continue
            self.state.record(key, placement.node, placement.gpus)
            self._uids[key] = str(pod["metadata"].get("uid"))
            self.pending.pop(key, None)
            self._why.pop(key, None)
            self.bound += 1
            msg = f"bound to {placement.node}" + (f" gpus {','.join(placement.gpus)}" if placement.gpus else "")
            log.info("pod %s %s", key, msg)
            self._decide(key, msg)

    def _decide(self, key: str, msg: str) -> None:
        if self.on_decision is not None:
            self.on_decision(key, msg)
