"""One vLLM instance: its live record and the InstanceActor that does its I/O.

The record (:class:`Instance`) holds the instance's :class:`InstanceLifecycle`; it is
changed only through :meth:`launcher.node.Node.transition`, under the node's lock, so that
the byte budget and the log always agree. The :class:`InstanceActor` (a pykka actor, one
thread per instance) does the slow parts: waiting for ``/health``, ``/sleep`` +
``/is_sleeping``, ``/wake_up`` + ``/is_sleeping``, and the SIGTERM/SIGKILL of a stop. What it
observes it reports back as lifecycle observations (``ready``, ``slept``, ``woke``,
``swap_failed``, ``exited``, ``crashed``), which the node records and pushes.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pykka

from fma.engines.client import EngineError, ServerClient
from fma.statemachines import InstanceLifecycle, InstanceState
from launcher import procs
from launcher.budget import Holding
from launcher.ids import CreateRequest

if TYPE_CHECKING:
    from launcher.node import Node

log = logging.getLogger(__name__)

S = InstanceState
STOP_GRACE_S = 10.0


@dataclass
class Instance:
    instance_id: str
    actor: str  # event-log actor path
    request: CreateRequest
    argv: tuple[str, ...]
    port: int
    gpu_bytes: int
    host_bytes: int
    log_path: str
    lc: InstanceLifecycle = field(default_factory=InstanceLifecycle)
    pid: int | None = None
    ticks: int | None = None
    revision: int = 0
    exit_code: int | None = None
    deleting: bool = False
    created_at: float = field(default_factory=time.time)
    final: threading.Event = field(default_factory=threading.Event)
    changed: threading.Condition = field(default_factory=threading.Condition)
    actor_ref: Any = None

    @property
    def state(self) -> InstanceState:
        return self.lc.state  # type: ignore[return-value]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def host(self) -> str:
        """Where the instance listens, as seen from the launcher: its ``--host`` (a wildcard
        means loopback), else the pod IP it inherits as ``FMA_POD_IP`` (``fma local`` binds
        each pod's processes to the pod's own address), else loopback."""
        for i, a in enumerate(self.argv):
            value = self.argv[i + 1] if a == "--host" and i + 1 < len(self.argv) else (
                a.split("=", 1)[1] if a.startswith("--host=") else None)
            if value:
                return "127.0.0.1" if value in ("0.0.0.0", "::", "[::]") else value
        env = self.request.env_vars or {}
        return env.get("FMA_POD_IP") or os.environ.get("FMA_POD_IP") or "127.0.0.1"

    def holding(self) -> Holding:
        return Holding(self.instance_id, self.state, tuple(self.request.gpu_uuids or ()),
                       self.gpu_bytes, self.host_bytes)

    def status(self) -> str:
        return "stopped" if self.lc.is_final else "running"

    def state_dict(self) -> dict[str, Any]:
        """FMA's instance state, plus ``phase`` (our lifecycle state) and ``pid``."""
        out: dict[str, Any] = {"instance_id": self.instance_id, "status": self.status(),
                               "revision": self.revision}
        out.update(self.request.fields())
        out["phase"] = self.state.value
        if self.pid is not None:
            out["pid"] = self.pid
        return out


class InstanceActor(pykka.ThreadingActor):
    """Does one instance's I/O; reports observations to the node."""

    def __init__(self, node: "Node", inst: Instance, poll_interval: float = 0.05) -> None:
        super().__init__()
        self.node = node
        self.inst = inst
        self.poll_interval = poll_interval
        self._client = ServerClient(inst.url, timeout=30.0)
        self._stop_wanted = threading.Event()

    def on_stop(self) -> None:
        self._client.close()

    def __repr__(self) -> str:
        return f"InstanceActor({self.inst.instance_id})"

    # -- readiness ----------------------------------------------------------------------
    def watch_ready(self, timeout: float = 3600.0) -> None:
        """Poll /health until 200 and record ``ready`` (the launcher pushes it; nobody else polls)."""
        inst = self.inst
        deadline = time.monotonic() + timeout
        delay = self.poll_interval
        while time.monotonic() < deadline:
            if inst.state is not S.LOADING or self._stop_wanted.is_set():
                return
            if self._client.health(timeout=2.0):
                self.node.observe(inst, "ready", {})
                return
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)
        log.warning("instance %s: not healthy after %.0f s", inst.instance_id, timeout)

    def settle_swap(self) -> None:
        """After a restart found the instance ``swapping``: ask vLLM where it ended up."""
        inst = self.inst
        try:
            sleeping = self._client.is_sleeping()
        except EngineError as exc:
            log.warning("instance %s: /is_sleeping failed after restart: %s", inst.instance_id, exc)
            return
        direction = inst.lc.ctx.get("direction")
        if direction == "to_host":
            self.node.observe(inst, "slept" if sleeping else "swap_failed", {"observed": True})
        else:
            self.node.observe(inst, "woke" if not sleeping else "swap_failed", {"observed": True})

    # -- sleep / wake -------------------------------------------------------------------
    def do_sleep(self, level: int) -> None:
        inst = self.inst
        t0 = time.monotonic()
        try:
            self._client.sleep(level=level)
            sleeping = self._client.is_sleeping()
        except EngineError as exc:
            self.node.observe(inst, "swap_failed", {"error": str(exc)[:500]})
            return
        if sleeping:
            self.node.observe(inst, "slept", {"seconds": round(time.monotonic() - t0, 3)})
        else:
            self.node.observe(inst, "swap_failed", {"error": "/is_sleeping says awake after /sleep"})

    def do_wake(self) -> None:
        inst = self.inst
        t0 = time.monotonic()
        try:
            self._client.wake()
            sleeping = self._client.is_sleeping()
        except EngineError as exc:
            self.node.observe(inst, "swap_failed", {"error": str(exc)[:500], "oom": exc.is_oom})
            return
        if not sleeping:
            self.node.observe(inst, "woke", {"seconds": round(time.monotonic() - t0, 3)})
        else:
            self.node.observe(inst, "swap_failed", {"error": "/is_sleeping says asleep after /wake_up"})

    # -- stop ---------------------------------------------------------------------------
    def do_stop(self, grace: float = STOP_GRACE_S) -> None:
        """SIGTERM the group, wait ``grace`` s for the exit, then SIGKILL the group."""
        inst = self.inst
        self._stop_wanted.set()
        if inst.pid is None:
            return
        how = procs.terminate_group(inst.pid, grace, lambda t: inst.final.wait(t) or
                                    procs.wait_gone(inst.pid or 0, inst.ticks, 0.0))
        if how == "kill":
            log.warning("instance %s: no exit %.0f s after SIGTERM; SIGKILLed its process group",
                        inst.instance_id, grace)
        # A process we did not fork (re-adopted) reports no exit code: wait for it to go.
        if not inst.final.wait(2.0) and procs.wait_gone(inst.pid, inst.ticks, 5.0):
            self.node.process_gone(inst, None)
