"""Lifecycle of one vLLM instance (a process the launcher runs, or a direct provider's server).

``pending`` (admitted, no process yet) and ``stopping`` (SIGTERM sent, exit not yet seen)
are additions to the states of DESIGN.md; DECISIONS.md says why. ``swapping`` carries its
direction in the context: ``to_host`` (sleep) or ``to_gpu`` (wake).
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Mapping

from fma.statemachines.base import Lifecycle, Transition


class InstanceState(str, Enum):
    PENDING = "pending"
    LOADING = "loading"
    AWAKE = "awake"
    SWAPPING = "swapping"
    SLEEPING = "sleeping"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"


S = InstanceState
LIVE = (S.LOADING, S.AWAKE, S.SWAPPING, S.SLEEPING)

TO_HOST = "to_host"
TO_GPU = "to_gpu"


def _to_host(ctx: Mapping[str, Any], data: Mapping[str, Any]) -> bool:
    return ctx.get("direction") == TO_HOST


def _to_gpu(ctx: Mapping[str, Any], data: Mapping[str, Any]) -> bool:
    return ctx.get("direction") == TO_GPU


class InstanceLifecycle(Lifecycle):
    name = "instance"
    States = InstanceState
    initial = S.PENDING
    final = frozenset({S.STOPPED, S.FAILED})
    guards = {"to_host": _to_host, "to_gpu": _to_gpu}
    table = (
        Transition("start", (S.PENDING,), S.LOADING, "command", ("spawn",),
                   doc="start the server process; weights load disk -> GPU"),
        Transition("ready", (S.LOADING,), S.AWAKE, "observation", doc="health answered: serving"),
        Transition("sleep", (S.AWAKE,), S.SWAPPING, "command", ("request_sleep",),
                   doc="POST /sleep; data: level, direction=to_host"),
        Transition("slept", (S.SWAPPING,), S.SLEEPING, "observation", guard="to_host",
                   doc="/is_sleeping confirmed true"),
        Transition("wake", (S.SLEEPING,), S.SWAPPING, "command", ("request_wake",),
                   doc="POST /wake_up; data: direction=to_gpu"),
        Transition("woke", (S.SWAPPING,), S.AWAKE, "observation", guard="to_gpu",
                   doc="/is_sleeping confirmed false"),
        Transition("swap_failed", (S.SWAPPING,), S.AWAKE, "observation", guard="to_host",
                   doc="sleep refused: still awake"),
        Transition("swap_failed", (S.SWAPPING,), S.SLEEPING, "observation", guard="to_gpu",
                   doc="wake refused (e.g. OOM): still asleep"),
        Transition("used", (S.AWAKE, S.SLEEPING), None, "observation",
                   doc="bookkeeping for LRU choices (data: at)"),
        Transition("stop", (S.PENDING,), S.STOPPED, "command", doc="never started"),
        Transition("stop", LIVE, S.STOPPING, "command", ("terminate",),
                   doc="SIGTERM the process group; SIGKILL after the grace period"),
        Transition("exited", (S.STOPPING,), S.STOPPED, "observation", doc="process gone after stop"),
        Transition("crashed", LIVE + (S.PENDING,), S.FAILED, "observation",
                   doc="process died or could not start (data: exit_code, reason)"),
        Transition("crashed", (S.STOPPING,), S.STOPPED, "observation",
                   doc="died while being stopped: that is a stop"),
    )

    @classmethod
    def evolve(cls, ctx: Mapping[str, Any], event: str, data: Mapping[str, Any]) -> dict[str, Any]:
        out = super().evolve(ctx, event, data)
        if event == "sleep":
            out["direction"] = TO_HOST
        elif event == "wake":
            out["direction"] = TO_GPU
        elif event in ("slept", "woke", "swap_failed"):
            out.pop("direction", None)
        return out
