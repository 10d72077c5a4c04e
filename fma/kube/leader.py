"""Lease-based leader election (``coordination.k8s.io/v1``), with optimistic concurrency:
whoever updates the Lease with the current resourceVersion wins; a holder renews every
``retry_period``; others take over once ``lease_duration`` passed since the last renew.
:func:`run_leading` is how ``fma controller`` and ``fma populator`` use it (one policy)."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable

from fma.kube.client import Conflict, KubeError, NotFound, Rest

log = logging.getLogger(__name__)
Obj = dict[str, Any]


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(ts: str | None) -> float:
    if not ts:
        return 0.0
    for fmt in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.strptime(ts, fmt).replace(tzinfo=timezone.utc).timestamp()
        except ValueError:
            pass
    return 0.0


class LeaderElector:
    def __init__(self, rest: Rest, namespace: str, name: str, identity: str, lease_duration: float = 15.0,
                 retry_period: float = 2.0, on_started: Callable[[], None] | None = None,
                 on_stopped: Callable[[], None] | None = None) -> None:
        self.rest, self.namespace, self.name, self.identity = rest, namespace, name, identity
        self.lease_duration, self.retry_period = lease_duration, retry_period
        self.on_started, self.on_stopped = on_started, on_stopped
        self.is_leader = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def try_acquire(self) -> bool:
        """One attempt to acquire or renew; returns whether we hold the lease now."""
        spec = {"holderIdentity": self.identity, "leaseDurationSeconds": int(self.lease_duration),
                "renewTime": _now()}
        try:
            lease = self.rest.get("leases", self.namespace, self.name)
        except NotFound:
            try:
                self.rest.create("leases", self.namespace, {
                    "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": self.name, "namespace": self.namespace},
                    "spec": {**spec, "acquireTime": spec["renewTime"], "leaseTransitions": 0}})
                return True
            except Conflict:
                return False
        cur = lease.get("spec") or {}
        mine = cur.get("holderIdentity") == self.identity
        expired = time.time() - _parse(cur.get("renewTime")) > float(cur.get("leaseDurationSeconds") or 0)
        if not mine and not expired and cur.get("holderIdentity"):
            return False
        new = dict(cur, **spec)
        if not mine:
            new["acquireTime"] = spec["renewTime"]
            new["leaseTransitions"] = int(cur.get("leaseTransitions") or 0) + 1
        lease["spec"] = new
        try:
            self.rest.replace("leases", self.namespace, self.name, lease)
            return True
        except (Conflict, NotFound):
            return False

    def release(self) -> None:
        if not self.is_leader:
            return
        try:
            lease = self.rest.get("leases", self.namespace, self.name)
            if (lease.get("spec") or {}).get("holderIdentity") == self.identity:
                lease["spec"]["holderIdentity"] = ""
                self.rest.replace("leases", self.namespace, self.name, lease)
        except KubeError as exc:
            log.info("lease %s/%s: release failed: %s", self.namespace, self.name, exc)

    def _set(self, leader: bool) -> None:
        if leader == self.is_leader:
            return
        self.is_leader = leader
        log.info("lease %s/%s: %s %s leadership", self.namespace, self.name, self.identity,
                 "acquired" if leader else "lost")
        cb = self.on_started if leader else self.on_stopped
        if cb is not None:
            cb()

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self._set(self.try_acquire())
            except KubeError as exc:
                log.warning("lease %s/%s: %s", self.namespace, self.name, exc)
                self._set(False)
            self._stop.wait(self.retry_period)
        self.release()
        self._set(False)

    def start(self) -> "LeaderElector":
        self._thread = threading.Thread(target=self.run, name=f"leader-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def identity() -> str:
    """This replica's holder identity: host name (the pod's name in a cluster) and pid."""
    import os
    import socket

    return f"{socket.gethostname()}-{os.getpid()}"


def run_leading(rest: Rest | None, namespace: str, lease: str, *, lead: Callable[[], None],
                step_down: Callable[[], None], done: threading.Event, what: str,
                lease_duration: float = 15.0, retry_period: float = 2.0) -> int:
    """Run a controller the way both FMA controllers run, until ``done`` is set.

    Without ``rest`` (no ``--leader-elect``) ``lead()`` runs at once. With it, ``lead()``
    runs once this replica holds the Lease ``lease`` in ``namespace``. Losing the Lease
    stops at once and returns 1, so that two replicas never act together and the
    Deployment starts this one again as a follower (which re-reads everything). On
    ``done`` (SIGTERM) it calls ``step_down()`` first and then gives the Lease back, so
    a follower takes over within one retry period, never while this one still acts.
    Returns the process's exit status: 0, or 1 when leadership was lost.
    """
    if rest is None:
        lead()
        done.wait()
        step_down()
        return 0
    lost = threading.Event()
    me = identity()

    def stopped() -> None:
        if done.is_set():
            return  # shutting down: we gave the lease back ourselves
        log.warning("%s %s: lost the Lease %s/%s; stopping (the Deployment restarts it as a follower)",
                    what, me, namespace, lease)
        lost.set()
        done.set()

    log.info("%s %s: waiting for the Lease %s/%s", what, me, namespace, lease)
    elector = LeaderElector(rest, namespace, lease, me, lease_duration=lease_duration,
                            retry_period=retry_period, on_started=lead, on_stopped=stopped).start()
    done.wait()
    step_down()
    elector.stop()
    return 1 if lost.is_set() else 0
