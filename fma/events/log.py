"""The event-log interface shared by every backend."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from abc import ABC, abstractmethod
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from fma.events.record import RECORD_VERSION, Record

Listener = Callable[[Record], None]
_log = logging.getLogger(__name__)
_new_record = tuple.__new__  # Record is a named tuple; this skips its Python-level __new__


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

    Appends are thread-safe. Listeners are called after the record is stored, outside
    the log's lock, and every listener sees records in ``seq`` order, even with several
    appending threads. Normally that happens on the appending thread before ``append``
    returns; if another thread (or a listener further up this thread's stack) is already
    delivering, that deliverer hands this record on too, right after the earlier ones.
    A listener sees only records appended after it subscribed. A listener that raises
    stays subscribed and affects no one else (its error is logged).
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._subs: list[Subscription] = []
        self._last_seq = 0
        self._pending: deque[tuple[Record, list[Subscription]]] = deque()
        self._delivering = False

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
            record = _new_record(Record, (self._last_seq + 1, time.time() if ts is None else ts,
                                          actor, machine, event, src, dst, dict(data) if data else {}, RECORD_VERSION))
            self._store(record)
            self._last_seq = record.seq
            if not self._subs:
                return record
            self._pending.append((record, list(self._subs)))
            if self._delivering:
                return record
            self._delivering = True
        self._deliver()
        return record

    def append_many(self, entries: Iterable[Sequence[Any]]) -> list[Record]:
        """Store several records at once, in order, with consecutive seqs; returns them.

        Each entry is ``(actor, machine, event, src, dst[, data[, ts]])``. All entries are
        validated and encoded before any is stored; a backend may write them in one go
        (the file log does: one write, one flush), so this is the fast path for bulk
        appends. Listeners see each record as with :meth:`append`.
        """
        with self._lock:
            now = time.time()
            seq = self._last_seq
            records: list[Record] = []
            for entry in entries:
                n = len(entry)
                if not 5 <= n <= 7:
                    raise ValueError(f"append_many entry must be (actor, machine, event, src, dst[, data[, ts]]), "
                                     f"got {n} items: {entry!r}")
                seq += 1
                data = entry[5] if n > 5 else None
                ts = entry[6] if n > 6 and entry[6] is not None else now
                records.append(Record(seq, ts, entry[0], entry[1], entry[2], entry[3], entry[4],
                                      dict(data) if data else {}))
            if not records:
                return records
            self._store_many(records)
            self._last_seq = seq
            if not self._subs:
                return records
            subs = list(self._subs)
            self._pending.extend((r, subs) for r in records)
            if self._delivering:
                return records
            self._delivering = True
        self._deliver()
        return records

    def _deliver(self) -> None:
        """Hand pending records to their listeners, oldest first, until none is left."""
        try:
            while True:
                with self._lock:
                    if not self._pending:
                        self._delivering = False
                        return
                    record, subs = self._pending.popleft()
                for sub in subs:
                    try:
                        sub.listener(record)
                    except Exception:  # a broken listener must not break the writer
                        _log.exception("event-log listener failed on seq %d", record.seq)
        except BaseException:
            with self._lock:
                self._delivering = False
            raise

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

    def _store_many(self, records: list[Record]) -> None:
        """Store records in order; all or none where the backend can (default: one by one)."""
        for record in records:
            self._store(record)

    @abstractmethod
    def _iter_from(self, since: int) -> Iterator[Record]: ...

    def close(self) -> None:
        """Release resources; the default backend holds none."""
