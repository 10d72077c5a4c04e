"""Lifecycle of a launcher pod as the controllers see it."""

from __future__ import annotations

from enum import Enum

from fma.statemachines.base import Lifecycle, Transition


class LauncherState(str, Enum):
    CREATING = "creating"
    STARTING = "starting"
    READY = "ready"
    STUCK = "stuck"
    DELETING = "deleting"
    GONE = "gone"


S = LauncherState
ALIVE = (S.CREATING, S.STARTING, S.READY, S.STUCK)


class LauncherLifecycle(Lifecycle):
    name = "launcher"
    States = LauncherState
    initial = S.CREATING
    final = frozenset({S.GONE})
    table = (
        Transition("scheduled", (S.CREATING,), S.STARTING, "observation", doc="bound to a node"),
        Transition("ready", (S.CREATING, S.STARTING, S.STUCK), S.READY, "observation"),
        Transition("unready", (S.READY,), S.STARTING, "observation"),
        Transition("stuck", (S.CREATING, S.STARTING), S.STUCK, "observation", ("mark_stuck",),
                   doc="unscheduled 2 min or unstarted 7.5 min (data: reason)"),
        Transition("recovered", (S.STUCK,), S.STARTING, "observation", ("unmark_stuck",)),
        Transition("delete", ALIVE, S.DELETING, "command", ("delete_pod",)),
        Transition("deleted", (S.DELETING,), S.GONE, "observation"),
        Transition("vanished", ALIVE, S.GONE, "observation"),
    )
