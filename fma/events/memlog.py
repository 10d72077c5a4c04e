"""In-memory event log (tests, short-lived processes)."""

from __future__ import annotations

from typing import Iterator

from fma.events.log import EventLog
from fma.events.record import Record


class MemoryLog(EventLog):
    def __init__(self) -> None:
        super().__init__()
        self._records: list[Record] = []

    def _store(self, record: Record) -> None:
        self._records.append(record)

    def _store_many(self, records: list[Record]) -> None:
        self._records.extend(records)

    def _iter_from(self, since: int) -> Iterator[Record]:
        with self._lock:
            snapshot = self._records[max(since, 0):]
        return iter(snapshot)
