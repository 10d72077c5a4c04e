"""The object store: one global resourceVersion, optimistic concurrency, bounded watch
history, finalizers and graceful deletion, owner-reference garbage collection and
persistence to a JSON file.

All mutation happens under one lock; each committed change gets the next
resourceVersion and is appended to the history that watches read from. A watch that
asks for a version older than the retained history gets ``410 Expired``.
"""

from __future__ import annotations

import bisect
import copy
import json
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from fma.kube.emulator import errors
from fma.kube.emulator.resources import Resource

log = logging.getLogger(__name__)
Obj = dict[str, Any]


def now_rfc3339() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass
class Change:
    rv: int
    key: str  # resource key "group/plural"
    type: str  # ADDED | MODIFIED | DELETED
    obj: Obj
    old: Obj | None


class Store:
    def __init__(self, history: int = 10000) -> None:
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.rv = 1
        self.objects: dict[str, dict[tuple[str, str], Obj]] = {}
        self.max_history = history
        self._hist: list[Change] = []
        self._hist_rvs: list[int] = []
        self.oldest_rv = 1  # watches from rv >= oldest_rv - 1 can be served
        self.closed = False
        self.listeners: list[Callable[[Change], None]] = []
        self.dirty = False

    # ------------------------------------------------------------------ reading
    def get(self, r: Resource, ns: str, name: str) -> Obj:
        with self.lock:
            obj = self.objects.get(r.key, {}).get((ns, name))
            if obj is None:
                raise errors.not_found(r.group_resource, name)
            return copy.deepcopy(obj)

    def peek(self, key: str, ns: str, name: str) -> Obj | None:
        return self.objects.get(key, {}).get((ns, name))

    def list(self, r: Resource, ns: str | None, match: Callable[[Obj], bool]) -> tuple[list[Obj], int]:
        with self.lock:
            items = [copy.deepcopy(o) for (ons, _), o in sorted(self.objects.get(r.key, {}).items())
                     if (ns is None or ons == ns) and match(o)]
            return items, self.rv

    def all_of(self, key: str) -> list[Obj]:
        with self.lock:
            return list(self.objects.get(key, {}).values())

    # ------------------------------------------------------------------ history / watch
    def changes_since(self, rv: int, key: str) -> list[Change]:
        """Changes of ``key`` after ``rv``; ApiError 410 when ``rv`` left the history."""
        with self.lock:
            if rv < self.oldest_rv - 1:
                raise errors.ApiError(410, f"too old resource version: {rv} ({self.oldest_rv - 1})", "Expired")
            i = bisect.bisect_right(self._hist_rvs, rv)
            return [c for c in self._hist[i:] if c.key == key]

    def wait_past(self, rv: int, timeout: float) -> bool:
        with self.cond:
            if self.rv <= rv and not self.closed:
                self.cond.wait(timeout)
            return self.rv > rv

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    # ------------------------------------------------------------------ writing
    def _commit(self, r: Resource, typ: str, obj: Obj, old: Obj | None) -> Obj:
        self.rv += 1
        md = obj.setdefault("metadata", {})
        md["resourceVersion"] = str(self.rv)
        k = (md.get("namespace", ""), md["name"])
        bucket = self.objects.setdefault(r.key, {})
        if typ == "DELETED":
            bucket.pop(k, None)
        else:
            bucket[k] = obj
        ch = Change(self.rv, r.key, typ, obj, old)
        self._hist.append(ch)
        self._hist_rvs.append(self.rv)
        if len(self._hist) > self.max_history * 2:
            drop = len(self._hist) - self.max_history
            del self._hist[:drop]
            del self._hist_rvs[:drop]
            self.oldest_rv = self._hist_rvs[0]
        self.dirty = True
        self.cond.notify_all()
        for fn in self.listeners:
            try:
                fn(ch)
            except Exception:  # noqa: BLE001 - a listener must not break the store
                log.exception("store listener failed on %s %s", typ, md.get("name"))
        return copy.deepcopy(obj)

    def create(self, r: Resource, obj: Obj, dry_run: bool = False) -> Obj:
        with self.lock:
            md = obj.setdefault("metadata", {})
            ns = md.get("namespace", "") if r.namespaced else ""
            if not md.get("name") and md.get("generateName"):
                for _ in range(100):
                    cand = md["generateName"] + uuid.uuid4().hex[:5]
                    if (ns, cand) not in self.objects.get(r.key, {}):
                        md["name"] = cand
                        break
            if (ns, md["name"]) in self.objects.get(r.key, {}):
                raise errors.already_exists(r.group_resource, md["name"])
            md["uid"] = str(uuid.uuid4())
            md["creationTimestamp"] = now_rfc3339()
            md.pop("deletionTimestamp", None)
            md.pop("resourceVersion", None)
            if not r.namespaced:
                md.pop("namespace", None)
            if r.status and not r.builtin:
                obj.pop("status", None)
            md["generation"] = 1
            if dry_run:
                out = copy.deepcopy(obj)
                out["metadata"]["resourceVersion"] = str(self.rv)
                return out
            return self._commit(r, "ADDED", obj, None)

    def update(self, r: Resource, new: Obj, old: Obj, dry_run: bool = False) -> Obj:
        """Store ``new`` in place of ``old`` (both already checked); a no-op keeps the resourceVersion."""
        with self.lock:
            md, omd = new["metadata"], old["metadata"]
            for k in ("uid", "creationTimestamp", "namespace", "name", "generation", "deletionTimestamp",
                      "deletionGracePeriodSeconds"):
                if k in omd:
                    md[k] = omd[k]
                else:
                    md.pop(k, None)
            if _spec_part(new) != _spec_part(old):
                md["generation"] = omd.get("generation", 1) + 1
            md["resourceVersion"] = omd.get("resourceVersion")
            if new == old:
                return copy.deepcopy(old)
            if dry_run:
                return copy.deepcopy(new)
            # a Terminating Namespace is held by the namespace controller (its spec.finalizers
            # on a real server) until emptied, whatever an update does to its metadata
            held = r.key == "/namespaces" and (new.get("status") or {}).get("phase") == "Terminating"
            if md.get("deletionTimestamp") and not md.get("finalizers") and not md.get("deletionGracePeriodSeconds") \
                    and not held:
                return self._finalize(r, new)
            return self._commit(r, "MODIFIED", new, old)

    def delete(self, r: Resource, ns: str, name: str, grace: int | None = None, propagation: str = "Background",
               uid: str | None = None, rv: str | None = None, dry_run: bool = False) -> tuple[Obj, bool]:
        """Delete (or start deleting) an object; returns (object, gone_now)."""
        with self.lock:
            cur = self.objects.get(r.key, {}).get((ns, name))
            if cur is None:
                raise errors.not_found(r.group_resource, name)
            if uid and cur["metadata"].get("uid") != uid:
                raise errors.ApiError(409, f'Operation cannot be fulfilled on {r.group_resource} "{name}": '
                                      f"Precondition failed: UID in precondition: {uid}, UID in object meta: "
                                      f"{cur['metadata'].get('uid')}", "Conflict")
            if rv and cur["metadata"].get("resourceVersion") != rv:
                raise errors.conflict(r.group_resource, name)
            new = copy.deepcopy(cur)
            md = new["metadata"]
            if r.key == "/pods":
                if grace is None:
                    grace = (new.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
                phase = (new.get("status") or {}).get("phase")
                if not (new.get("spec") or {}).get("nodeName") or phase in ("Succeeded", "Failed"):
                    grace = 0
            else:
                grace = 0
            if propagation == "Orphan":
                md.setdefault("finalizers", [])
            if dry_run:
                return new, not md.get("finalizers") and grace == 0
            if grace > 0:
                have = md.get("deletionGracePeriodSeconds")
                if have is not None and have <= grace:
                    return copy.deepcopy(cur), False
                md.setdefault("deletionTimestamp", now_rfc3339())
                md["deletionGracePeriodSeconds"] = grace
                return self._commit(r, "MODIFIED", new, cur), False
            if md.get("finalizers"):
                if md.get("deletionTimestamp") and md.get("deletionGracePeriodSeconds", 0) == 0:
                    return copy.deepcopy(cur), False
                md.setdefault("deletionTimestamp", now_rfc3339())
                md["deletionGracePeriodSeconds"] = 0
                if propagation == "Orphan":
                    self._orphan(md.get("uid"))
                return self._commit(r, "MODIFIED", new, cur), False
            if md.get("deletionTimestamp"):
                md["deletionGracePeriodSeconds"] = 0
            return self._finalize(r, new, cascade=propagation != "Orphan"), True

    def _finalize(self, r: Resource, obj: Obj, cascade: bool = True) -> Obj:
        out = self._commit(r, "DELETED", obj, None)
        uid = obj["metadata"].get("uid")
        if cascade:
            self._collect(uid)
        else:
            self._orphan(uid)
        return out

    # ------------------------------------------------------------------ garbage collection
    resolver: Callable[[str], Resource | None] = staticmethod(lambda key: None)  # set by the server

    def _dependents(self, uid: str | None) -> Iterable[tuple[str, Obj]]:
        if not uid:
            return []
        return [(key, o) for key, bucket in self.objects.items() for o in list(bucket.values())
                if any(ref.get("uid") == uid for ref in (o["metadata"].get("ownerReferences") or []))]

    def _collect(self, uid: str | None) -> None:
        for key, dep in self._dependents(uid):
            res = self.resolver(key)
            if res is None:
                continue
            md = dep["metadata"]
            refs = [ref for ref in md.get("ownerReferences") or [] if ref.get("uid") != uid]
            if refs and any(self._uid_alive(ref.get("uid")) for ref in refs):
                new = copy.deepcopy(dep)
                new["metadata"]["ownerReferences"] = refs
                self._commit(res, "MODIFIED", new, dep)
                continue
            try:
                self.delete(res, md.get("namespace", ""), md["name"])
            except errors.ApiError:
                pass

    def _orphan(self, uid: str | None) -> None:
        for key, dep in self._dependents(uid):
            res = self.resolver(key)
            if res is None:
                continue
            new = copy.deepcopy(dep)
            new["metadata"]["ownerReferences"] = [ref for ref in dep["metadata"].get("ownerReferences") or []
                                                  if ref.get("uid") != uid]
            if not new["metadata"]["ownerReferences"]:
                del new["metadata"]["ownerReferences"]
            self._commit(res, "MODIFIED", new, dep)

    def _uid_alive(self, uid: str | None) -> bool:
        return any(o["metadata"].get("uid") == uid for b in self.objects.values() for o in b.values())

    # ------------------------------------------------------------------ persistence
    def save(self, path: str) -> None:
        with self.lock:
            doc = {"resourceVersion": self.rv,
                   "objects": {k: list(b.values()) for k, b in self.objects.items() if b}}
            self.dirty = False
        tmp = f"{path}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(doc, fh)
        os.replace(tmp, path)

    def load(self, path: str) -> list[tuple[str, Obj]]:
        """Objects from a saved file, in resource order (the caller re-registers CRDs first)."""
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
        with self.lock:
            self.rv = max(self.rv, int(doc.get("resourceVersion", 1)))
            self.oldest_rv = self.rv + 1
        return [(k, o) for k, objs in (doc.get("objects") or {}).items() for o in objs]

    def restore(self, key: str, obj: Obj) -> None:
        md = obj["metadata"]
        with self.lock:
            self.objects.setdefault(key, {})[(md.get("namespace", ""), md["name"])] = obj


def _spec_part(obj: Obj) -> Obj:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}
