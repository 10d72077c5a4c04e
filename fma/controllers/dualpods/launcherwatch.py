"""Launcher instance state for the controller, pushed by the launchers themselves.

Every launcher serves its event log over ZMQ (``fma launcher --zmq``; the launcher pod
names that port ``fma-zmq`` among its container ports). For each such launcher pod the
controller keeps one subscription to the instance records, starting from seq 0: the
stream is the launcher's own history, so folding it from the start gives the present
state of every instance (this is also how a restarted controller re-reads a launcher's
instances), and every later transition arrives as it happens — readiness is never
polled. A launcher pod without that port gets no subscription and a warning naming it.

Record → view: ``instance/<node>/<id>[#n]`` names the instance; ``dst`` gives its phase
(``awake`` = ready, ``sleeping`` = asleep, ``stopped``/``failed`` = status stopped); the
``start`` record carries its port and annotations. The launcher-node record ``removed``
drops the instance from the view.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any, Callable

from fma.controllers.dualpods import pods as P
from fma.controllers.dualpods.world import InstanceView

log = logging.getLogger(__name__)

ZMQ_PORT_NAME = "fma-zmq"
ENDED = ("stopped", "failed")


def zmq_address(pod: dict[str, Any]) -> str | None:
    """``tcp://<podIP>:<port named fma-zmq>`` of a launcher pod, or None."""
    ip = (pod.get("status") or {}).get("podIP")
    if not ip:
        return None
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("name") == ZMQ_PORT_NAME and p.get("containerPort"):
                return f"tcp://{ip}:{int(p['containerPort'])}"
    return None


def _ready(pod: dict[str, Any]) -> bool:
    conds = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


def instance_id(actor: str) -> str:
    return actor.split("/", 2)[-1].split("#", 1)[0]


class InstanceFold:
    """The controller's view of one launcher's instances, folded from its records."""

    def __init__(self) -> None:
        self.views: dict[str, InstanceView] = {}

    def apply(self, rec: Any) -> str | None:
        """Fold one record; returns the instance id it changed (None if it changed none)."""
        if rec.machine == "instance":
            iid = instance_id(rec.actor)
            cur = self.views.get(iid) or InstanceView(iid)
            changes: dict[str, Any] = {"status": "stopped" if rec.dst in ENDED else "running",
                                       "ready": rec.dst == "awake", "sleeping": rec.dst == "sleeping"}
            if rec.event == "start":
                changes["port"] = int(rec.data.get("port") or 0)
                changes["annotations"] = dict(rec.data.get("annotations") or {})
            if rec.event == "slept":
                changes["last_used"] = float(rec.ts)
            from dataclasses import replace

            self.views[iid] = replace(cur, **changes)
            return iid
        if rec.event == "removed" and isinstance(rec.data.get("instance_id"), str):
            iid = rec.data["instance_id"]
            self.views.pop(iid, None)
            return iid
        return None


class LauncherWatcher:
    """Keeps one subscription per launcher pod; calls ``publish(launcher, views)`` with the
    launcher's complete instance map after each change."""

    def __init__(self, publish: Callable[[str, dict[str, InstanceView]], None],
                 connect: Callable[..., Any] | None = None, heartbeat_s: float = 1.0) -> None:
        self._publish = publish
        self._connect = connect
        self._heartbeat_s = heartbeat_s
        self._lock = threading.Lock()
        self._subs: dict[str, tuple[str, Any, Any, threading.Thread, threading.Event]] = {}
        self._warned: set[str] = set()

    def sync(self, launcher_pods: dict[str, dict[str, Any]]) -> None:
        """Subscribe to new (or moved) launchers, drop the ones that are gone."""
        wanted = {}
        for name, pod in launcher_pods.items():
            addr = zmq_address(pod)
            if addr is None:
                if (pod.get("status") or {}).get("podIP") and name not in self._warned:
                    self._warned.add(name)
                    log.warning("launcher pod %s exposes no %r container port: its instances are invisible "
                                "to the controller (start it with --zmq tcp://$(POD_IP):PORT)", name, ZMQ_PORT_NAME)
                continue
            if P.deleting(pod) or not _ready(pod):
                continue  # not listening yet (or going away): the Ready update triggers a sync
            wanted[name] = addr
        with self._lock:
            stale = [n for n, sub in self._subs.items() if wanted.get(n) != sub[0]]
            new = {n: a for n, a in wanted.items() if n not in self._subs or n in stale}
        for name in stale:
            self._drop(name)
        for name, addr in new.items():
            self._start(name, addr)

    def _start(self, name: str, addr: str) -> None:
        """Follow a launcher from a thread of its own: connecting may wait on a launcher that
        is still starting, and must never hold up (or raise into) the informer calling sync."""
        stop = threading.Event()
        t = threading.Thread(target=self._follow, args=(name, addr, stop), name=f"launcher-watch-{name}",
                             daemon=True)
        with self._lock:
            self._subs[name] = (addr, None, None, t, stop)
        t.start()

    def _follow(self, name: str, addr: str, stop: threading.Event) -> None:
        connect = self._connect
        if connect is None:
            from fma.transport import connect as connect
        delay = 0.2
        while not stop.is_set():
            peer = stream = None
            try:
                peer = connect(addr, heartbeat_s=self._heartbeat_s)
                stream = peer.subscribe(since=0)
            except Exception as exc:  # noqa: BLE001 - a launcher not up yet: try again
                log.info("launcher %s: cannot follow %s yet (%s); retrying in %.1f s", name, addr, exc, delay)
                if peer is not None:
                    peer.close()
                stop.wait(delay)
                delay = min(delay * 2, 5.0)
                continue
            with self._lock:
                if self._subs.get(name, (None,))[0] != addr or stop.is_set():
                    stream.close()
                    peer.close()
                    return
                self._subs[name] = (addr, peer, stream, threading.current_thread(), stop)
            log.info("launcher %s: following its instance events at %s", name, addr)
            self._run(name, stream, stop)
            return

    def _run(self, name: str, stream: Any, stop: threading.Event) -> None:
        fold = InstanceFold()
        while not stop.is_set():
            try:
                rec = stream.get(timeout=0.5)
            except queue.Empty:
                if getattr(stream, "closed", False):
                    return
                continue
            if fold.apply(rec) is not None:
                self._publish(name, dict(fold.views))

    def _drop(self, name: str) -> None:
        with self._lock:
            sub = self._subs.pop(name, None)
        if sub is None:
            return
        _, peer, stream, t, stop = sub
        stop.set()
        if stream is not None:
            stream.close()
        if peer is not None:
            peer.close()
        if t is not threading.current_thread():
            t.join(2)

    def close(self) -> None:
        for name in list(self._subs):
            self._drop(name)
