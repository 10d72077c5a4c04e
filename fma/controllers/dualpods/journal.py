"""Decisions and bindings as event-log records (CONTRACTS.md B1), for the debug socket.

* ``controller/<ns>/<subject>`` (machine ``reconcile``): one record per decision that acts
  or changes kind — hot / warm / evict / wait / cold and the others, with the reason.
* ``binding/<ns>/<requester>`` (machine ``binding``): the requester's
  :class:`~fma.statemachines.BindingLifecycle`, driven from the decisions, so
  ``fold(events)`` gives each binding's state.
"""

from __future__ import annotations

import threading
from enum import Enum
from typing import Any

from fma.controllers.dualpods import names as N
from fma.controllers.dualpods.decision import Decision
from fma.events import EventLog, MemoryLog
from fma.statemachines import BindingLifecycle, BindingState, Lifecycle, Transition, register


class ReconcileState(str, Enum):
    ACTIVE = "active"


@register
class ReconcileLifecycle(Lifecycle):
    """The controller's decisions about one object: a stream of internal 'decide' events."""

    name = "reconcile"
    States = ReconcileState
    initial = ReconcileState.ACTIVE
    table = (
        Transition("decide", (ReconcileState.ACTIVE,), None, "observation",
                   doc="data: kind (hot|warm|evict|wait|cold|...), reason, target, effects"),
        Transition("effect_failed", (ReconcileState.ACTIVE,), None, "observation",
                   doc="data: effect, error; the node is retried with back-off"),
    )


# decision kind -> binding triggers to apply, in order, when legal
_BINDING_TRIGGERS: dict[str, tuple[str, ...]] = {
    "hot": ("bind",), "warm": ("bind",), "evict": ("bind",), "cold": ("bind",),
    "serving": ("serving",),
    "unbind": ("unbind",),
    "release": ("unbind", "released"),
    "lost": ("lost",),
}


class Journal:
    def __init__(self, log: EventLog | None = None) -> None:
        self.log = log if log is not None else MemoryLog()
        self._last: dict[str, str] = {}
        self._bindings: dict[str, BindingLifecycle] = {}
        self._lock = threading.Lock()

    def decided(self, ns: str, d: Decision) -> None:
        actor = f"controller/{ns}/{d.subject}"
        with self._lock:
            if not d.effects and self._last.get(actor) == d.kind:
                return
            self._last[actor] = d.kind
        self.log.append(actor, "reconcile", "decide", "active", "active", d.summary())
        if d.subject.startswith("node/") or d.kind in ("cleanup", "evict-sleeper", "idle"):
            return
        self._drive_binding(ns, d)

    def completed(self, ns: str, d: Decision) -> None:
        """Every effect of ``d`` succeeded. An ``unbind`` whose effects dropped the
        requester's finalizer (sleep-and-release) leaves no later decision about that
        requester, so its binding is released here; otherwise it would stay ``unbinding``
        for ever (in the folded log and in this journal's memory)."""
        if d.kind != "unbind" or not _drops_requester_finalizer(d):
            return
        actor = f"binding/{ns}/{d.subject}"
        with self._lock:
            m = self._bindings.get(actor)
            if m is None or "released" not in m.allowed():
                return
            step = m.handle("released", {"reason": d.reason})
            for ev in step.events:
                self.log.append(actor, "binding", ev.name, ev.src, ev.dst, dict(ev.data))
            self._bindings.pop(actor, None)

    def failed(self, ns: str, d: Decision, effect: Any, error: str) -> None:
        self.log.append(f"controller/{ns}/{d.subject}", "reconcile", "effect_failed", "active", "active",
                        {"effect": type(effect).__name__, "error": error[:500]})

    def _drive_binding(self, ns: str, d: Decision) -> None:
        actor = f"binding/{ns}/{d.subject}"
        with self._lock:
            m = self._bindings.setdefault(actor, BindingLifecycle())
            triggers = list(_BINDING_TRIGGERS.get(d.kind, ()))
            if d.kind == "serving" and any(type(e).__name__ == "BecomeReady" for e in d.effects) \
                    and m.state is BindingState.UNBOUND:
                triggers = ["bind", "serving"]  # adopted after a restart
            if d.kind == "starting" and any(type(e).__name__ == "BecomeUnready" for e in d.effects):
                triggers = ["not_serving"]
            for trig in triggers:
                if trig not in m.allowed():
                    continue
                data = {"provider": d.target, "mode": d.mode} if trig == "bind" else {"reason": d.reason}
                if trig == "bind" and d.kind in ("hot", "warm", "evict", "cold"):
                    data["start"] = d.kind
                step = m.handle(trig, data)
                for ev in step.events:
                    self.log.append(actor, "binding", ev.name, ev.src, ev.dst, dict(ev.data))
            if m.state is BindingState.UNBOUND and d.kind in ("release", "lost"):
                self._bindings.pop(actor, None)


def _drops_requester_finalizer(d: Decision) -> bool:
    for eff in d.effects:
        name = type(eff).__name__
        if name in ("SleepAndRelease", "SleepInstance"):
            return True
        if name == "PatchMeta" and getattr(eff, "pod", None) == d.subject \
                and N.FIN_REQUESTER in getattr(eff, "remove_finalizers", ()):
            return True
    return False
