"""Lifecycle of one requester <-> provider binding."""

from __future__ import annotations

from enum import Enum
from typing import Any, Mapping

from fma.statemachines.base import Lifecycle, Transition


class BindingState(str, Enum):
    UNBOUND = "unbound"
    BINDING = "binding"
    BOUND = "bound"
    UNBINDING = "unbinding"


S = BindingState


class BindingLifecycle(Lifecycle):
    name = "binding"
    States = BindingState
    initial = S.UNBOUND
    table = (
        Transition("bind", (S.UNBOUND,), S.BINDING, "command", ("write_binding",),
                   doc="data: provider, start (hot|warm|cold), mode (direct|launcher)"),
        Transition("serving", (S.BINDING,), S.BOUND, "observation", ("become_ready",),
                   doc="provider ready and awake: tell the requester"),
        Transition("not_serving", (S.BOUND,), S.BINDING, "observation", ("become_unready",),
                   doc="provider stopped being ready"),
        Transition("unbind", (S.BINDING, S.BOUND), S.UNBINDING, "command", ("release_provider",),
                   doc="requester going away: sleep (or delete) the provider"),
        Transition("released", (S.UNBINDING,), S.UNBOUND, "observation", ("drop_finalizer",),
                   doc="provider asleep or deleted; binding removed"),
        Transition("abandoned", (S.BINDING,), S.UNBOUND, "observation",
                   doc="binding could not be made (data: reason)"),
        Transition("lost", (S.BINDING, S.BOUND), S.UNBOUND, "observation", ("delete_requester",),
                   doc="provider gone behind our back: requester is deleted and remade"),
    )

    @classmethod
    def evolve(cls, ctx: Mapping[str, Any], event: str, data: Mapping[str, Any]) -> dict[str, Any]:
        out = super().evolve(ctx, event, data)
        if event in ("released", "abandoned", "lost"):
            for key in ("provider", "start", "mode", "instance"):
                out.pop(key, None)
        return out
