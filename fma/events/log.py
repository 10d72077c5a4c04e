"""The event-log interface shared by every backend."""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from typing import Any, Callable, Iterator, Mapping

from fma.events.record import Record

Listener = Callable[[Record], None]


class Subscription:
    """Handle returned by :meth:`EventLog.subscribe`; ``close()`` stops delivery."""

    def __init__(self, log: "EventLog", listener: Listener) -> None:
        self._log = log
        self.listener = listener

    def close(self) -> None:
        self._log._unsubscribe(self)

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventLog(ABC):
    """An append-only sequence of records; ``seq`` grows by one per record, from 1.

    Appends are thread-safe. Listeners are called synchronously, in order, after the
    record is stored, on the appending thread; a listener that raises is dropped from
    nothing and affects no one else (its error is swallowed after logging).
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._subs: list[Subscription] = []
        self._last_seq = 0

    @property
    def last_seq(self) -> int:
        return self._last_seq

    def append(
        self,
        actor: str,
        machine: str,
        event: str,
        src: str,
        dst: str,
        data: Mapping[str, Any] | None = None,
        ts: float | None = None,
    ) -> Record:
        """Store a new record, giving it the next ``seq``; returns it."""
        with self._lock:
            record = Record(
                seq=self._last_seq + 1,
                ts=time.time() if ts is None else ts,
                actor=actor,
                machine=machine,
                event=event,
                src=src,
                dst=dst,
                data=dict(data or {}),
            )
            self._store(record)
            self._last_seq = record.seq
            subs = list(self._subs)
        for sub in subs:
            try:
                sub.listener(record)
            except Exception:  # a broken listener must not break the writer
                import logging

                logging.getLogger(__name__).exception("event-log listener failed on seq %d", record.seq)
        return record

    def subscribe(self, listener: Listener) -> Subscription:
        sub = Subscription(self, listener)
        with self._lock:
            self._subs.append(sub)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)

    def read(self, since: int = 0, actor: str | None = None) -> Iterator[Record]:
        """Records with ``seq > since`` (optionally of one actor), oldest first."""
        for record in self._iter_from(since):
            if actor is None or record.actor == actor:
                yield record

    def __iter__(self) -> Iterator[Record]:
        return self.read()

    def __len__(self) -> int:
        return self._last_seq

    @abstractmethod
    def _store(self, record: Record) -> None: ...

    @abstractmethod
    def _iter_from(self, since: int) -> Iterator[Record]: ...

    def close(self) -> None:
        """Release resources; the default backend holds none."""
