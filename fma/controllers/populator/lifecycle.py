"""Lifecycle of one (node, LauncherConfig) pair, as the populator drives it.

``idle`` (nothing wanted, nothing there) -> ``scaling`` (creates or deletes issued, or
creates held back by deletions on the node) -> ``steady`` (actual == desired); ``blocked``
while the LauncherConfig is missing or invalid (its launchers are left alone). Stuck and
recovered launchers are recorded as internal transitions of their pair, so every decision
of the populator is one event on the debug socket.
"""

from __future__ import annotations

from enum import Enum

from fma.statemachines import Lifecycle, Transition, register


class PairState(str, Enum):
    IDLE = "idle"
    SCALING = "scaling"
    STEADY = "steady"
    BLOCKED = "blocked"


S = PairState
ALL = tuple(S)


class PairLifecycle(Lifecycle):
    name = "launcher-pair"
    States = PairState
    initial = S.IDLE
    table = (
        Transition("scale_up", ALL, S.SCALING, "command", ("create_launchers",),
                   doc="data: desired, actual, create, pods"),
        Transition("scale_down", ALL, S.SCALING, "command", ("delete_launchers",),
                   doc="data: desired, actual, pods (name -> reason: outdated|ended|surplus)"),
        Transition("hold", ALL, S.SCALING, "observation",
                   doc="creates wait for deletions on the node to land"),
        Transition("converged", (S.IDLE, S.SCALING, S.BLOCKED), S.STEADY, "observation",
                   doc="actual == desired > 0"),
        Transition("emptied", (S.SCALING, S.STEADY, S.BLOCKED), S.IDLE, "observation",
                   doc="nothing desired and nothing left"),
        Transition("blocked", (S.IDLE, S.SCALING, S.STEADY), S.BLOCKED, "observation",
                   doc="LauncherConfig missing or invalid (data: reason); launchers left alone"),
        Transition("blocked", (S.BLOCKED,), None, "observation", doc="the reason changed"),
        Transition("launcher_stuck", ALL, None, "observation", ("mark_stuck",),
                   doc="data: pod, reason (stuck_scheduling|stuck_starting), message"),
        Transition("launcher_recovered", ALL, None, "observation", ("unmark_stuck",), doc="data: pod"),
    )


register(PairLifecycle)


def pair_actor(namespace: str, node: str, lc: str) -> str:
    """Event-log actor path of a pair."""
    return f"launcher-pair/{namespace}/{node}/{lc}"
