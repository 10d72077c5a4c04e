"""Fold a log into each actor's state: the read side of event sourcing."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Iterable, Mapping

from fma.events.record import Record
from fma.statemachines import LIFECYCLES, FoldError, Lifecycle


@dataclass
class ActorState:
    """An actor's folded state: which lifecycle, where it is, and the last seq applied."""

    actor: str
    machine: str
    state: str
    seq: int
    ctx: dict[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        return {"actor": self.actor, "machine": self.machine, "state": self.state, "seq": self.seq}


def fold_log(
    records: Iterable[Record],
    until: int | None = None,
    lifecycles: Mapping[str, type[Lifecycle]] | None = None,
    strict: bool = True,
) -> dict[str, ActorState]:
    """Replay ``records`` (up to and including seq ``until``) into per-actor states.

    Records of machines not in the registry are tracked by their ``dst`` alone. With
    ``strict`` an impossible event raises :class:`FoldError`; otherwise it is skipped.
    """
    registry = LIFECYCLES if lifecycles is None else lifecycles
    # actor -> [lifecycle class or None, state, ctx, seq, machine]; updated in place.
    live: dict[str, list[Any]] = {}
    get = live.get
    for rec in records:
        seq, _ts, actor, machine, event, src, dst, data, _v = rec
        if until is not None and seq > until:
            break
        cur = get(actor)
        if cur is None:
            cls = registry.get(machine)
            cur = [cls, cls.initial if cls is not None else src, {}, 0, machine]
            fresh = True
        else:
            fresh = False
            if cur[4] != machine:
                if strict:
                    raise FoldError(f"actor {actor}: machine changed from {cur[4]} to {machine} at seq {seq}")
                continue
            cls = cur[0]
        if cls is None:
            cur[1] = dst
            cur[2] = {**cur[2], **data}
        else:
            try:
                cur[1], cur[2] = cls.apply(cur[1], cur[2], event, src, dst, data)
            except FoldError as exc:
                if strict:
                    raise FoldError(f"actor {actor} seq {seq}: {exc}") from None
                continue
        cur[3] = seq
        if fresh:
            live[actor] = cur
    out: dict[str, ActorState] = {}
    for actor, (_, state, ctx, seq, machine) in live.items():
        value = state.value if isinstance(state, Enum) else state
        out[actor] = ActorState(actor, machine, value, seq, ctx)
    return out
