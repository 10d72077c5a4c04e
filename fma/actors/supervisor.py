"""Restart crashed actors; a restarted actor folds its own records (no state kept here)."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

import pykka

from fma.actors.messages import ActorCrashed, ActorRestarting, Msg, NoSuchActor, error_body

log = logging.getLogger(__name__)

#: ``factory(generation) -> ActorRef``: starts one generation of an actor.
Factory = Callable[[int], pykka.ActorRef]


@dataclass
class _Entry:
    path: str
    factory: Factory
    ref: pykka.ActorRef
    generation: int = 0
    state: str = "running"  # running | restarting | failed | stopped
    crashes: deque[float] = field(default_factory=deque)
    requeued: list[Msg] = field(default_factory=list)  # were in the old inbox: go first
    pending: list[Msg] = field(default_factory=list)  # arrived during the restart
    restarts: int = 0


class Supervisor:
    """One-for-one restarts, at most ``max_restarts`` within ``window_s`` per actor."""

    def __init__(self, *, max_restarts: int = 5, window_s: float = 60.0, stop_timeout_s: float = 5.0) -> None:
        self.max_restarts = max_restarts
        self.window_s = window_s
        self.stop_timeout_s = stop_timeout_s
        self._entries: dict[str, _Entry] = {}
        self._cond = threading.Condition()
        self._jobs: queue.Queue[tuple[str, int, BaseException] | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    # --- registry ------------------------------------------------------------------------
    def start(self, path: str, factory: Factory) -> pykka.ActorRef:
        with self._cond:
            if path in self._entries and self._entries[path].state != "stopped":
                raise ValueError(f"an actor is already running at {path}")
        ref = factory(0)
        with self._cond:
            self._entries[path] = _Entry(path, factory, ref)
        return ref

    def __contains__(self, path: str) -> bool:
        with self._cond:
            e = self._entries.get(path)
            return e is not None and e.state != "stopped"

    def paths(self) -> list[str]:
        with self._cond:
            return [p for p, e in self._entries.items() if e.state != "stopped"]

    def restarts(self, path: str) -> int:
        with self._cond:
            return self._entry(path).restarts

    def generation(self, path: str) -> int:
        with self._cond:
            return self._entry(path).generation

    def _entry(self, path: str) -> _Entry:
        e = self._entries.get(path)
        if e is None or e.state == "stopped":
            raise NoSuchActor(f"no actor at {path}")
        return e

    def current(self, path: str, timeout: float, newer_than: int = -1) -> tuple[pykka.ActorRef, int]:
        """The running ref (and its generation), waiting up to ``timeout`` for a restart."""
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                e = self._entry(path)
                if e.state == "failed":
                    raise ActorCrashed(f"actor {path} crashed too often and was not restarted")
                if e.state == "running" and e.generation > newer_than:
                    return e.ref, e.generation
                left = end - time.monotonic()
                if left <= 0:
                    raise ActorRestarting(f"actor {path} is still restarting")
                self._cond.wait(left)

    # --- delivery ------------------------------------------------------------------------
    def deliver(self, path: str, msg: Msg) -> None:
        """Tell ``msg`` to the actor at ``path``; held during a restart, never dropped silently."""
        while True:
            with self._cond:
                e = self._entry(path)
                if e.state == "restarting":
                    e.pending.append(msg)
                    return
                if e.state == "failed":
                    self._refuse(msg, ActorCrashed(f"actor {path} crashed too often and was not restarted"))
                    return
                ref, gen = e.ref, e.generation
            try:
                ref.tell(msg)
                return
            except pykka.ActorDeadError:
                with self._cond:  # stopped between our look and the tell: look again
                    if self._entry(path).generation == gen and self._entries[path].state == "running":
                        raise NoSuchActor(f"actor {path} has stopped") from None

    def redeliver(self, path: str, msg: Msg) -> None:
        """Called by a crashed actor for a message that was queued behind its crash."""
        with self._cond:
            e = self._entries.get(path)
            if e is not None and e.state == "restarting":
                e.requeued.append(msg)
                return
        self._refuse(msg, ActorRestarting(f"actor {path} is not being restarted"))

    @staticmethod
    def _refuse(msg: Msg, exc: BaseException) -> None:
        if msg.reply is not None:
            msg.reply(False, error_body(exc))
        else:
            log.warning("dropped %r: %s", msg.type, exc)

    # --- crashes -------------------------------------------------------------------------
    def crashed(self, path: str, generation: int, exc: BaseException) -> None:
        """Called on the crashed actor's thread; the restart happens on ours."""
        with self._cond:
            e = self._entries.get(path)
            if e is None or e.generation != generation or e.state != "running":
                return
            e.state = "restarting"
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="fma-supervisor", daemon=True)
                self._thread.start()
        self._jobs.put((path, generation, exc))

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                self._restart(*job)
            except Exception:  # pragma: no cover - never let the supervisor die
                log.exception("supervisor: restart of %s failed", job[0])

    def _restart(self, path: str, generation: int, exc: BaseException) -> None:
        with self._cond:
            e = self._entries[path]
            old = e.ref
        try:
            old.stop(block=True, timeout=self.stop_timeout_s)  # queued messages are requeued
        except pykka.Timeout:
            log.error("supervisor: crashed actor %s did not stop in %.1f s", path, self.stop_timeout_s)
        now = time.monotonic()
        with self._cond:
            if e.state != "restarting":
                return
            while e.crashes and now - e.crashes[0] > self.window_s:
                e.crashes.popleft()
            e.crashes.append(now)
            give_up = len(e.crashes) > self.max_restarts
        new = None
        if give_up:
            log.error("supervisor: actor %s crashed %d times in %.0f s; not restarting (last: %r)",
                      path, len(e.crashes), self.window_s, exc)
        else:
            try:
                new = e.factory(generation + 1)
            except Exception:
                log.exception("supervisor: actor %s could not be rebuilt from its records", path)
        with self._cond:
            if e.state == "stopped":  # stopped while we were rebuilding
                if new is not None:
                    new.stop(block=False)
                return
            waiting = e.requeued + e.pending
            e.requeued, e.pending = [], []
            if new is None:
                e.state = "failed"
            else:
                e.ref, e.generation, e.state = new, generation + 1, "running"
                e.restarts += 1
                log.info("supervisor: restarted %s (generation %d) after %r", path, e.generation, exc)
            self._cond.notify_all()
        for msg in waiting:
            if new is None:
                self._refuse(msg, ActorCrashed(f"actor {path} could not be restarted"))
            else:
                try:
                    new.tell(msg)
                except pykka.ActorDeadError:
                    self._refuse(msg, ActorRestarting(f"actor {path} stopped again"))

    # --- shutdown ------------------------------------------------------------------------
    def stop(self, path: str, timeout: float = 5.0) -> None:
        with self._cond:
            e = self._entries.get(path)
            if e is None or e.state == "stopped":
                return
            e.state = "stopped"
            ref = e.ref
            waiting = e.requeued + e.pending
            e.requeued, e.pending = [], []
            self._cond.notify_all()
        for msg in waiting:
            self._refuse(msg, NoSuchActor(f"actor {path} was stopped"))
        try:
            ref.stop(block=True, timeout=timeout)
        except (pykka.Timeout, pykka.ActorDeadError):
            pass

    def stop_all(self, timeout: float = 5.0) -> None:
        for path in list(self._entries):
            self.stop(path, timeout)
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join(timeout)
            self._thread = None

    def describe(self) -> list[dict[str, Any]]:
        with self._cond:
            return [{"actor": p, "state": e.state, "generation": e.generation, "restarts": e.restarts}
                    for p, e in self._entries.items()]
