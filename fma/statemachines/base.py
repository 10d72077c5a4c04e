"""Pure lifecycles: a transition table (data) driven through ``transitions``.

A lifecycle does no I/O and reads no clock. :meth:`Lifecycle.handle` takes a command
or an observation (a *trigger* plus data) and returns a :class:`Step`: the events
that happened (facts, which become event-log records) and the effects that someone
must now carry out. An illegal trigger raises :class:`IllegalCommand` and changes
nothing.

A lifecycle's full state is ``(state, ctx)``: the Enum state plus a small context map
evolved from event data by :meth:`Lifecycle.evolve`. :func:`fold` rebuilds exactly that
pair from events alone, which is how an actor recovers after a crash.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable, ClassVar, Iterable, Literal, Mapping

from transitions import Machine, MachineError

# ``transitions`` logs two INFO lines per state change; our own event records say it all.
logging.getLogger("transitions").setLevel(logging.WARNING)

Kind = Literal["command", "observation"]
Guard = Callable[[Mapping[str, Any], Mapping[str, Any]], bool]


@dataclass(frozen=True)
class Transition:
    """One row of a transition table.

    ``dest=None`` is an internal transition: the event is recorded, the state stays.
    ``guard`` names a predicate ``(ctx, data) -> bool`` in the lifecycle's ``guards``;
    when several rows share a trigger and source, the first whose guard holds wins.
    """

    trigger: str
    sources: tuple[Enum, ...]
    dest: Enum | None
    kind: Kind
    effects: tuple[str, ...] = ()
    guard: str | None = None
    doc: str = ""


@dataclass(frozen=True)
class Event:
    name: str
    src: str
    dst: str
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Effect:
    name: str
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Step:
    events: tuple[Event, ...]
    effects: tuple[Effect, ...]


class LifecycleError(Exception):
    """Base of the errors a lifecycle raises."""


class IllegalCommand(LifecycleError):
    """A trigger that the lifecycle refuses in its current state (nothing changed)."""

    def __init__(self, machine: str, state: str, trigger: str, reason: str = "") -> None:
        msg = f"{machine}: {trigger!r} is not allowed in state {state!r}"
        super().__init__(msg + (f" ({reason})" if reason else ""))
        self.machine = machine
        self.state = state
        self.trigger = trigger
        self.reason = reason


class FoldError(LifecycleError):
    """An event sequence that the lifecycle could not have produced."""


class _Model:
    """The object ``transitions`` drives; kept apart so triggers don't shadow our API."""

    state: Enum


class Lifecycle:
    """Base class; subclasses set ``name``, ``States``, ``initial``, ``table`` (and ``guards``)."""

    name: ClassVar[str]
    States: ClassVar[type[Enum]]
    initial: ClassVar[Enum]
    final: ClassVar[frozenset[Enum]] = frozenset()
    table: ClassVar[tuple[Transition, ...]]
    guards: ClassVar[Mapping[str, Guard]] = {}

    _index: ClassVar[dict[tuple[str, Enum], tuple[Transition, ...]]]
    _by_value: ClassVar[dict[Any, Enum]]
    _fold_rows: ClassVar[dict[tuple[str, Any], tuple[tuple[Guard | None, Enum | None], ...]]]

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if "table" in cls.__dict__:
            index: dict[tuple[str, Enum], list[Transition]] = {}
            for row in cls.table:
                if row.guard is not None and row.guard not in cls.guards:
                    raise TypeError(f"{cls.__name__}: unknown guard {row.guard!r}")
                for src in row.sources:
                    index.setdefault((row.trigger, src), []).append(row)
            cls._index = {k: tuple(v) for k, v in index.items()}
            cls._by_value = {s.value: s for s in cls.States}
            # The fold's view of the same index: keyed by state value, guards resolved.
            cls._fold_rows = {
                (trig, src.value): tuple((cls.guards[r.guard] if r.guard else None, r.dest) for r in rows)
                for (trig, src), rows in cls._index.items()
            }

    def __init__(self, state: Enum | None = None, ctx: Mapping[str, Any] | None = None) -> None:
        self._model = _Model()
        self._machine = Machine(
            model=self._model,
            states=list(self.States),
            initial=state if state is not None else self.initial,
            transitions=[],
            auto_transitions=False,
            ignore_invalid_triggers=False,
        )
        for i, row in enumerate(self.table):
            self._machine.add_transition(
                f"_t{i}", list(row.sources), row.dest if row.dest is not None else None
            )
        self._row_id = {row: f"_t{i}" for i, row in enumerate(self.table)}
        self.ctx: dict[str, Any] = dict(ctx or {})

    # --- reading -------------------------------------------------------------------
    @property
    def state(self) -> Enum:
        return self._model.state

    @property
    def is_final(self) -> bool:
        return self.state in self.final

    def snapshot(self) -> tuple[str, dict[str, Any]]:
        return self.state.value, dict(self.ctx)

    @classmethod
    def triggers(cls) -> list[str]:
        seen: dict[str, None] = {}
        for row in cls.table:
            seen.setdefault(row.trigger, None)
        return list(seen)

    def allowed(self) -> list[str]:
        return [t for t in self.triggers() if self._pick(t, {}, raise_=False) is not None]

    # --- changing ------------------------------------------------------------------
    def handle(self, trigger: str, data: Mapping[str, Any] | None = None) -> Step:
        """Apply a command or observation; returns what happened and what to do."""
        data = dict(data or {})
        row = self._pick(trigger, data, raise_=True)
        assert row is not None
        src = self.state
        try:
            getattr(self._model, self._row_id[row])()
        except MachineError as exc:  # pragma: no cover - our index and transitions agree
            raise IllegalCommand(self.name, src.value, trigger, str(exc)) from None
        dst = self.state
        self.ctx = self.evolve(self.ctx, trigger, data)
        event = Event(trigger, src.value, dst.value, data)
        effects = tuple(Effect(name, data) for name in row.effects)
        return Step((event,), effects)

    def _pick(self, trigger: str, data: Mapping[str, Any], raise_: bool) -> Transition | None:
        rows = self._index.get((trigger, self.state))
        if not rows:
            if raise_:
                known = trigger in self.triggers()
                reason = "" if known else "unknown trigger"
                raise IllegalCommand(self.name, self.state.value, trigger, reason)
            return None
        for row in rows:
            if row.guard is None or self.guards[row.guard](self.ctx, data):
                return row
        if raise_:
            raise IllegalCommand(self.name, self.state.value, trigger, f"guard {rows[0].guard} refused")
        return None

    @classmethod
    def evolve(cls, ctx: Mapping[str, Any], event: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """The context after ``event``; default: the event's data is merged in."""
        out = dict(ctx)
        out.update(data)
        return out

    # --- folding -------------------------------------------------------------------
    @classmethod
    def apply(
        cls, state: Enum, ctx: Mapping[str, Any], event: str, src: str, dst: str, data: Mapping[str, Any]
    ) -> tuple[Enum, dict[str, Any]]:
        """One fold step: check the event is one this lifecycle could emit, then apply it.

        The live machine takes the first row whose guard holds; so does the fold, so a
        record the machine could not have produced (e.g. ``swap_failed`` back to
        ``sleeping`` during a sleep) is refused.
        """
        if src != state._value_:
            raise FoldError(f"{cls.name}: event {event!r} starts from {src!r} but the state is {state._value_!r}")
        rows = cls._fold_rows.get((event, src))
        if rows is None:
            raise FoldError(f"{cls.name}: no transition {event!r} from {src!r}")
        for guard, dest in rows:
            if guard is None or guard(ctx, data):
                target = state if dest is None else dest
                if target._value_ != dst:
                    break
                return target, cls.evolve(ctx, event, data)
        raise FoldError(f"{cls.name}: {event!r} from {src!r} cannot lead to {dst!r} with context {dict(ctx)!r}")

    @classmethod
    def restore(cls, state: Enum, ctx: Mapping[str, Any]) -> "Lifecycle":
        return cls(state=state, ctx=ctx)


def fold(cls: type[Lifecycle], events: Iterable[Any]) -> tuple[Enum, dict[str, Any]]:
    """Replay events (``Event``s or event-log ``Record``s) from the initial state."""
    state: Enum = cls.initial
    ctx: dict[str, Any] = {}
    for ev in events:
        name = getattr(ev, "event", None) or ev.name
        state, ctx = cls.apply(state, ctx, name, ev.src, ev.dst, ev.data)
    return state, ctx


def rebuild(cls: type[Lifecycle], events: Iterable[Any]) -> Lifecycle:
    """A live lifecycle in the state its events lead to."""
    state, ctx = fold(cls, events)
    return cls.restore(state, ctx)
