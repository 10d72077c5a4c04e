"""Read a live log in ``seq`` order with no gaps, and keep its fold up to date."""

from __future__ import annotations

import threading
from enum import Enum
from typing import Any, Callable, Iterable, Mapping

from fma.events import EventLog, Record
from fma.events.fold import ActorState
from fma.statemachines import LIFECYCLES, FoldError, Lifecycle


class LogFeed:
    """Hands ``log``'s records after ``since`` to one consumer, in order, each once.

    The log calls its listeners on the appending threads, after the lock, so two appends
    can reach listeners out of order. The feed keeps what arrived and, when the next
    ``seq`` is missing, reads it from the log — it is always stored before its listeners
    run. ``wake`` (optional) is called from the appending thread after each record.
    """

    def __init__(self, log: EventLog, since: int | None = None, wake: Callable[[], None] | None = None) -> None:
        self.log = log
        self._wake = wake
        self._lock = threading.Lock()
        self._arrived: dict[int, Record] = {}
        self._sub = log.subscribe(self._on_record)
        self.last = log.last_seq if since is None else max(0, since)

    def _on_record(self, record: Record) -> None:
        with self._lock:
            self._arrived[record.seq] = record
        if self._wake is not None:
            self._wake()

    def poll(self, limit: int = 100_000) -> list[Record]:
        """Records after the last one returned, oldest first (may be empty)."""
        out: list[Record] = []
        with self._lock:
            arrived = self._arrived
            nxt = self.last + 1
            for seq in [s for s in arrived if s <= self.last]:
                del arrived[seq]
            while nxt in arrived and len(out) < limit:
                out.append(arrived.pop(nxt))
                nxt += 1
            behind = self.log.last_seq >= nxt and len(out) < limit
        if behind:  # a record still on its way to the listener, or a backlog: read the log
            for rec in self.log.read(since=nxt - 1):
                if rec.seq != nxt or len(out) >= limit:
                    break
                out.append(rec)
                nxt += 1
            with self._lock:
                for seq in [s for s in self._arrived if s < nxt]:
                    del self._arrived[seq]
        if out:
            self.last = out[-1].seq
        return out

    def close(self) -> None:
        self._sub.close()


class LiveFold:
    """The fold of a log, record by record; ``states()`` equals ``fold_log(records, strict=False)``."""

    def __init__(self, lifecycles: Mapping[str, type[Lifecycle]] | None = None) -> None:
        self._registry = LIFECYCLES if lifecycles is None else lifecycles
        self._live: dict[str, tuple[Enum | str, dict[str, Any], int, str]] = {}
        self.last_seq = 0

    def apply(self, rec: Record) -> None:
        self.last_seq = max(self.last_seq, rec.seq)
        cur = self._live.get(rec.actor)
        cls = self._registry.get(rec.machine)
        if cur is None:
            state: Enum | str = cls.initial if cls is not None else rec.src
            ctx: dict[str, Any] = {}
        else:
            state, ctx, _, machine = cur
            if machine != rec.machine:
                return
        if cls is None:
            state, ctx = rec.dst, {**ctx, **rec.data}
        else:
            try:
                state, ctx = cls.apply(state, ctx, rec.event, rec.src, rec.dst, rec.data)  # type: ignore[arg-type]
            except FoldError:
                return
        self._live[rec.actor] = (state, ctx, rec.seq, rec.machine)

    def extend(self, records: Iterable[Record]) -> None:
        for rec in records:
            self.apply(rec)

    def catch_up(self, log: EventLog) -> None:
        """Apply whatever ``log`` holds beyond what this fold has seen."""
        self.extend(log.read(since=self.last_seq))

    def states(self) -> dict[str, ActorState]:
        out = {}
        for actor, (state, ctx, seq, machine) in self._live.items():
            value = state.value if isinstance(state, Enum) else state
            out[actor] = ActorState(actor, machine, value, seq, dict(ctx))
        return out
