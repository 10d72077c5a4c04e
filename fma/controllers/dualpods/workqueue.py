"""A keyed work queue in the manner of client-go's: a key is queued once, never handed to
two workers at once, re-queued if it was added while being worked on, and retried with
exponential back-off after a failure."""

from __future__ import annotations

import threading
import time
from typing import Iterable


class WorkQueue:
    def __init__(self, base_delay: float = 0.05, max_delay: float = 2.0) -> None:
        self._cv = threading.Condition()
        self._order: list[str] = []
        self._queued: set[str] = set()
        self._busy: set[str] = set()
        self._dirty: set[str] = set()
        self._failures: dict[str, int] = {}
        self._timers: dict[str, threading.Timer] = {}
        self._closed = False
        self.base_delay = base_delay
        self.max_delay = max_delay

    def add(self, key: str) -> None:
        with self._cv:
            if self._closed:
                return
            if key in self._busy:
                self._dirty.add(key)
            elif key not in self._queued:
                self._queued.add(key)
                self._order.append(key)
                self._cv.notify_all()

    def add_all(self, keys: Iterable[str]) -> None:
        for k in keys:
            self.add(k)

    def get(self) -> str | None:
        with self._cv:
            while not self._order and not self._closed:
                self._cv.wait()
            if self._closed:
                return None
            key = self._order.pop(0)
            self._queued.discard(key)
            self._busy.add(key)
            return key

    def done(self, key: str, ok: bool = True) -> None:
        with self._cv:
            self._busy.discard(key)
            again = key in self._dirty
            self._dirty.discard(key)
            if ok:
                self._failures.pop(key, None)
            else:
                n = self._failures.get(key, 0)
                self._failures[key] = n + 1
                delay = min(self.max_delay, self.base_delay * (2 ** n))
                old = self._timers.pop(key, None)
                if old is not None:
                    old.cancel()
                t = threading.Timer(delay, self._retry, (key,))
                t.daemon = True
                self._timers[key] = t
                t.start()
            self._cv.notify_all()
        if again:
            self.add(key)

    def _retry(self, key: str) -> None:
        with self._cv:
            self._timers.pop(key, None)
        self.add(key)

    def wait_idle(self, timeout: float) -> bool:
        end = time.monotonic() + timeout
        with self._cv:
            while self._order or self._busy or self._timers:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._cv.wait(min(left, 0.05))
            return True

    def shutdown(self) -> None:
        with self._cv:
            self._closed = True
            for t in self._timers.values():
                t.cancel()
            self._timers.clear()
            self._cv.notify_all()
