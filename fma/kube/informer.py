"""Informers: list, then watch from the list's resourceVersion, keeping a cache of plain
dict objects; bookmarks advance the version, a ``410 Gone`` relists (delivering the
differences), other errors back off and relist. The cache answers ``get``, ``list``,
``by_node`` and ``by_label``.

    inf = Informer(api, "pods", "default", "app=x", on_event=lambda typ, obj: ...)
    inf.start(); inf.wait_synced(5); inf.get("default", "p1"); inf.stop()

``on_event(type, obj)`` runs on the informer's thread, with type ADDED, MODIFIED or
DELETED; after a relist it sees ADDED/MODIFIED/DELETED for what changed meanwhile.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any, Callable, Iterator

from kubernetes import client

from fma.kube.client import KubeError, Rest, kind

log = logging.getLogger(__name__)
Obj = dict[str, Any]


class Informer:
    def __init__(self, api: client.ApiClient, kind_name: str, namespace: str | None = None,
                 label_selector: str = "", on_event: Callable[[str, Obj], None] | None = None,
                 field_selector: str = "", watch_timeout: int = 30, max_backoff: float = 5.0) -> None:
        self.rest = Rest(api)
        self.kind_name = kind_name
        self.kind = kind(kind_name)
        self.namespace = namespace if self.kind.namespaced else None
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.on_event = on_event
        self.watch_timeout = watch_timeout
        self.max_backoff = max_backoff
        self.resource_version = ""
        self.relists = 0
        self._cache: dict[tuple[str, str], Obj] = {}
        self._lock = threading.RLock()
        self._synced = threading.Event()
        self._stop = threading.Event()
        self._resp: Any = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "Informer":
        self._thread = threading.Thread(target=self._run, name=f"informer-{self.kind_name}", daemon=True)
        self._thread.start()
        return self

    def wait_synced(self, timeout: float | None = None) -> bool:
        return self._synced.wait(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        resp = self._resp
        if resp is not None:
            try:
                resp.shutdown() if hasattr(resp, "shutdown") else resp.close()
            except Exception:  # noqa: BLE001 - best effort to unblock the reader
                pass
        if self._thread is not None:
            self._thread.join(timeout)

    # ------------------------------------------------------------------ cache
    @staticmethod
    def _key(obj: Obj) -> tuple[str, str]:
        md = obj.get("metadata") or {}
        return md.get("namespace", ""), md.get("name", "")

    def get(self, namespace: str | None, name: str) -> Obj | None:
        with self._lock:
            return self._cache.get((namespace or "", name))

    def list(self) -> list[Obj]:
        with self._lock:
            return list(self._cache.values())

    def by_node(self, node: str) -> list[Obj]:
        """Pods whose ``spec.nodeName`` is ``node`` (for nodes: the node itself)."""
        with self._lock:
            return [o for o in self._cache.values()
                    if (o.get("spec") or {}).get("nodeName") == node or
                    (self.kind_name == "nodes" and o["metadata"]["name"] == node)]

    def by_label(self, key: str, value: str | None = None) -> list[Obj]:
        with self._lock:
            return [o for o in self._cache.values()
                    if key in ((o["metadata"].get("labels")) or {})
                    and (value is None or o["metadata"]["labels"][key] == value)]

    # ------------------------------------------------------------------ loop
    def _emit(self, typ: str, obj: Obj) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(typ, obj)
        except Exception:  # noqa: BLE001 - a handler bug must not stop the informer
            log.exception("informer %s: handler failed on %s %s", self.kind_name, typ, self._key(obj))

    def _relist(self) -> None:
        lst = self.rest.list(self.kind_name, self.namespace, self.label_selector, self.field_selector)
        self.relists += 1
        fresh = {self._key(o): o for o in lst.get("items") or []}
        with self._lock:
            old = self._cache
            self._cache = fresh
            self.resource_version = (lst.get("metadata") or {}).get("resourceVersion", "")
        for k, o in fresh.items():
            prev = old.get(k)
            if prev is None:
                self._emit("ADDED", o)
            elif prev["metadata"].get("resourceVersion") != o["metadata"].get("resourceVersion"):
                self._emit("MODIFIED", o)
        for k, o in old.items():
            if k not in fresh:
                self._emit("DELETED", o)
        self._synced.set()

    def _events(self) -> Iterator[Obj]:
        resp = self.rest.call("GET", self.kind.path(self.namespace), stream=True,
                              query={"watch": "true", "resourceVersion": self.resource_version,
                                     "allowWatchBookmarks": "true", "timeoutSeconds": str(self.watch_timeout),
                                     "labelSelector": self.label_selector, "fieldSelector": self.field_selector},
                              timeout=(5, self.watch_timeout + 10), what=f"watch {self.kind_name}")
        self._resp = resp
        buf = b""
        try:
            for chunk in resp.stream(16384, decode_content=False):
                if self._stop.is_set():
                    return
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.strip():
                        yield json.loads(line)
        finally:
            self._resp = None
            resp.release_conn()

    def _run(self) -> None:
        backoff = 0.1
        need_list = True
        while not self._stop.is_set():
            try:
                if need_list:
                    self._relist()
                    need_list = False
                for ev in self._events():
                    typ, obj = ev.get("type"), ev.get("object") or {}
                    if typ == "ERROR":
                        code = obj.get("code")
                        if code == 410:
                            log.info("informer %s: resourceVersion %s expired; relisting", self.kind_name,
                                     self.resource_version)
                        else:
                            log.warning("informer %s: watch error %s: %s", self.kind_name, code, obj.get("message"))
                        need_list = True
                        break
                    rv = (obj.get("metadata") or {}).get("resourceVersion")
                    if rv:
                        self.resource_version = rv
                    if typ == "BOOKMARK":
                        continue
                    with self._lock:
                        if typ == "DELETED":
                            self._cache.pop(self._key(obj), None)
                        else:
                            self._cache[self._key(obj)] = obj
                    self._emit(str(typ), obj)
                backoff = 0.1
            except (KubeError, OSError, ValueError, Exception) as exc:  # noqa: BLE001 - back off, relist
                if self._stop.is_set():
                    return
                log.warning("informer %s: %s: %s; retrying in %.1fs", self.kind_name, type(exc).__name__, exc, backoff)
                need_list = True
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff)
