"""The watch buffer: the last 1000 watch events, by launcher-wide revision.

``since=N`` returns the events with revision > N; N older than the buffer's oldest kept
revision (minus one) is :class:`Gone` (HTTP 410): the client relists and watches from the
list's revision. Thread-safe; waiting is by condition variable with a timeout, so a
streaming handler can notice a closed client between waits.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Iterable

from launcher.ids import WatchEvent

BUFFER_EVENTS = 1000


class Gone(Exception):
    def __init__(self, since: int, oldest: int) -> None:
        super().__init__(f"Requested revision {since} is no longer available. Oldest available: {oldest}.")
        self.since = since
        self.oldest = oldest


class WatchBuffer:
    def __init__(self, revision: int = 0, events: Iterable[WatchEvent] = (), size: int = BUFFER_EVENTS) -> None:
        self._events: deque[WatchEvent] = deque(maxlen=size)
        self._cond = threading.Condition()
        self._floor = revision  # revisions <= floor that are not in the buffer are gone
        for ev in events:
            self._events.append(ev)
        if self._events:
            self._floor = self._events[0].revision - 1
        self.revision = max([revision] + [e.revision for e in self._events])

    @property
    def oldest(self) -> int:
        """Exclusive lower bound: ``since`` must be >= this."""
        with self._cond:
            return self._events[0].revision - 1 if self._events else self.revision

    def add(self, event: WatchEvent) -> None:
        with self._cond:
            self._events.append(event)
            self.revision = event.revision
            self._cond.notify_all()

    def since(self, revision: int) -> list[WatchEvent]:
        """Events after ``revision``; :class:`Gone` when some of them were dropped."""
        with self._cond:
            oldest = self._events[0].revision - 1 if self._events else self.revision
            if revision < oldest:
                raise Gone(revision, oldest)
            return [e for e in self._events if e.revision > revision]

    def wait(self, revision: int, timeout: float) -> list[WatchEvent]:
        """Like :meth:`since`, but waits up to ``timeout`` s for at least one event."""
        with self._cond:
            if self.revision <= revision:
                self._cond.wait(timeout)
            return self.since(revision)

    def wake_all(self) -> None:
        with self._cond:
            self._cond.notify_all()
