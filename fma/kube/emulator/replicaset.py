"""A small ReplicaSet controller inside the emulator: keeps ``spec.replicas`` live pods
from the template (``generateName: <rs>-``, a controller ownerReference), deletes the
surplus (unscheduled and youngest first) and writes ``status`` (replicas, readyReplicas,
availableReplicas, observedGeneration)."""

from __future__ import annotations

import copy
import logging
import queue
import threading
from typing import Any

from fma.kube.emulator.api import Api, Target
from fma.kube.emulator.errors import ApiError
from fma.kube.emulator.selectors import match_label_selector_object
from fma.kube.emulator.store import Change

log = logging.getLogger(__name__)
Obj = dict[str, Any]
RS_KEY = "apps/replicasets"


class ReplicaSetController:
    def __init__(self, api: Api) -> None:
        self.api = api
        self.q: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="emulator-replicasets", daemon=True)
        api.store.listeners.append(self._on_change)

    def start(self) -> None:
        self.thread.start()
        for rs in self.api.store.all_of(RS_KEY):
            self.q.put((rs["metadata"]["namespace"], rs["metadata"]["name"]))

    def stop(self) -> None:
        self.q.put(None)
        self.thread.join(timeout=5)

    def _on_change(self, ch: Change) -> None:
        md = ch.obj["metadata"]
        if ch.key == RS_KEY:
            self.q.put((md["namespace"], md["name"]))
        elif ch.key == "/pods":
            for ref in md.get("ownerReferences") or []:
                if ref.get("kind") == "ReplicaSet" and ref.get("controller"):
                    self.q.put((md["namespace"], ref["name"]))

    def _run(self) -> None:
        while True:
            item = self.q.get()
            if item is None:
                return
            pending = {item}
            while not self.q.empty():  # coalesce bursts
                nxt = self.q.get()
                if nxt is None:
                    return
                pending.add(nxt)
            for ns, name in pending:
                try:
                    self.reconcile(ns, name)
                except ApiError as exc:
                    log.warning("replicaset %s/%s: %s", ns, name, exc.message)
                except Exception:  # noqa: BLE001 - keep the controller alive
                    log.exception("replicaset %s/%s reconcile failed", ns, name)

    def reconcile(self, ns: str, name: str) -> None:
        api = self.api
        rs_res = api.registry.by_key(RS_KEY)
        pod_res = api.registry.by_key("/pods")
        assert rs_res is not None and pod_res is not None
        with api.store.lock:
            rs = api.store.peek(RS_KEY, ns, name)
            if rs is None or rs["metadata"].get("deletionTimestamp"):
                return
            rs = copy.deepcopy(rs)
            uid = rs["metadata"]["uid"]
            pods = [p for p in api.store.all_of("/pods") if p["metadata"].get("namespace") == ns and any(
                r.get("uid") == uid for r in p["metadata"].get("ownerReferences") or [])]
        spec = rs.get("spec") or {}
        want = int(spec.get("replicas", 1))
        live = [p for p in pods if not p["metadata"].get("deletionTimestamp")
                and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
        tmpl = spec.get("template") or {}
        for _ in range(want - len(live)):
            pod = {"apiVersion": "v1", "kind": "Pod",
                   "metadata": {**copy.deepcopy(tmpl.get("metadata") or {}), "generateName": f"{name}-",
                                "namespace": ns,
                                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": name,
                                                     "uid": uid, "controller": True, "blockOwnerDeletion": True}]},
                   "spec": copy.deepcopy(tmpl.get("spec") or {})}
            pod["metadata"].pop("name", None)
            api.create(Target(pod_res, ns), pod, {})
        if len(live) > want:
            def rank(p: Obj) -> tuple[int, str]:
                return (1 if (p.get("spec") or {}).get("nodeName") else 0,
                        "".join(chr(255 - ord(c)) for c in p["metadata"].get("creationTimestamp", "")))
            for p in sorted(live, key=rank)[: len(live) - want]:
                try:
                    api.delete(Target(pod_res, ns, p["metadata"]["name"]), None, {})
                except ApiError:
                    pass
        with api.store.lock:
            cur = api.store.peek(RS_KEY, ns, name)
            if cur is None:
                return
            ready = sum(1 for p in live if any(c.get("type") == "Ready" and c.get("status") == "True"
                                               for c in (p.get("status") or {}).get("conditions") or []))
            status = {"replicas": max(want, 0) if len(live) < want else len(live), "readyReplicas": ready,
                      "availableReplicas": ready, "fullyLabeledReplicas": len(live),
                      "observedGeneration": cur["metadata"].get("generation", 1)}
            status = {k: v for k, v in status.items() if v or k in ("replicas", "observedGeneration")}
            if (cur.get("status") or {}) != status:
                new = copy.deepcopy(cur)
                new["status"] = status
                api.store.update(rs_res, new, cur)

    @staticmethod
    def selects(rs: Obj, pod: Obj) -> bool:
        return match_label_selector_object((rs.get("spec") or {}).get("selector"),
                                           (pod.get("metadata") or {}).get("labels") or {})
