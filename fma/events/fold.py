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
    live: dict[str, tuple[type[Lifecycle] | None, Enum | str, dict[str, Any], int, str]] = {}
    for rec in records:
        if until is not None and rec.seq > until:
            break
        cur = live.get(rec.actor)
        cls = registry.get(rec.machine)
        if cur is None:
            state: Enum | str = cls.initial if cls is not None else rec.src
            ctx: dict[str, Any] = {}
        else:
            if cur[4] != rec.machine:
                if strict:
                    raise FoldError(f"actor {rec.actor}: machine changed from {cur[4]} to {rec.machine} at seq {rec.seq}")
                continue
            _, state, ctx, _, _ = cur
        if cls is None:
            state, ctx = rec.dst, {**ctx, **rec.data}
        else:
            try:
                state, ctx = cls.apply(state, ctx, rec.event, rec.src, rec.dst, rec.data)  # type: ignore[arg-type]
            except FoldError as exc:
                if strict:
                    raise FoldError(f"actor {rec.actor} seq {rec.seq}: {exc}") from None
                continue
        live[rec.actor] = (cls, state, ctx, rec.seq, rec.machine)
    out: dict[str, ActorState] = {}
    for actor, (_, state, ctx, seq, machine) in live.items():
        value = state.value if isinstance(state, Enum) else state
        out[actor] = ActorState(actor, machine, value, seq, ctx)
    return out
