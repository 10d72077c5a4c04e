"""Lifecycle of a server-providing Pod as the dual-pods controller sees it (direct mode)."""

from __future__ import annotations

from enum import Enum
from typing import Any, Mapping

from fma.statemachines.base import Lifecycle, Transition


class ProviderState(str, Enum):
    CREATING = "creating"
    STARTING = "starting"
    AWAKE = "awake"
    SWAPPING = "swapping"
    SLEEPING = "sleeping"
    DELETING = "deleting"
    GONE = "gone"
    FAILED = "failed"


S = ProviderState
ALIVE = (S.CREATING, S.STARTING, S.AWAKE, S.SWAPPING, S.SLEEPING)


def _to_host(ctx: Mapping[str, Any], data: Mapping[str, Any]) -> bool:
    return ctx.get("direction") == "to_host"


def _to_gpu(ctx: Mapping[str, Any], data: Mapping[str, Any]) -> bool:
    return ctx.get("direction") == "to_gpu"


class ProviderLifecycle(Lifecycle):
    name = "provider"
    States = ProviderState
    initial = S.CREATING
    final = frozenset({S.GONE, S.FAILED})
    guards = {"to_host": _to_host, "to_gpu": _to_gpu}
    table = (
        Transition("created", (S.CREATING,), S.STARTING, "observation", doc="pod object exists"),
        Transition("adopted_sleeping", (S.CREATING,), S.SLEEPING, "observation",
                   doc="found after a restart, labelled sleeping=true"),
        Transition("adopted_awake", (S.CREATING,), S.AWAKE, "observation",
                   doc="found after a restart, ready and awake"),
        Transition("ready", (S.STARTING,), S.AWAKE, "observation", doc="server ready and awake"),
        Transition("unready", (S.AWAKE,), S.STARTING, "observation", doc="readiness lost"),
        Transition("sleep", (S.AWAKE,), S.SWAPPING, "command", ("request_sleep",)),
        Transition("slept", (S.SWAPPING,), S.SLEEPING, "observation", guard="to_host"),
        Transition("wake", (S.SLEEPING,), S.SWAPPING, "command", ("request_wake",)),
        Transition("woke", (S.SWAPPING,), S.AWAKE, "observation", guard="to_gpu"),
        Transition("swap_failed", (S.SWAPPING,), S.AWAKE, "observation", guard="to_host"),
        Transition("swap_failed", (S.SWAPPING,), S.SLEEPING, "observation", guard="to_gpu"),
        Transition("delete", ALIVE, S.DELETING, "command", ("delete_pod",)),
        Transition("deleted", (S.DELETING,), S.GONE, "observation", doc="pod object gone"),
        Transition("vanished", ALIVE, S.GONE, "observation",
                   doc="deleted behind our back, or its node is gone"),
        Transition("crashed", ALIVE, S.FAILED, "observation", doc="server container failed"),
    )

    @classmethod
    def evolve(cls, ctx: Mapping[str, Any], event: str, data: Mapping[str, Any]) -> dict[str, Any]:
        out = super().evolve(ctx, event, data)
        if event == "sleep":
            out["direction"] = "to_host"
        elif event == "wake":
            out["direction"] = "to_gpu"
        elif event in ("slept", "woke", "swap_failed"):
            out.pop("direction", None)
        return out
