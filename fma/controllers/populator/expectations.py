"""Expectations: creates and deletes the populator made that its cache has not shown yet.

A slow watch must never cause a second create: a pod we created counts as present until
the cache shows it, and a pod we deleted counts as gone (and holds back creates on its
node) until the cache drops it. Entries expire after ``ttl`` seconds (a lost watch event
must not freeze a pair forever): then the API server is asked what became of the pod,
as FMA falls back to a direct read. The clock is injected.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

log = logging.getLogger(__name__)
PairKey = tuple[str, str]


@dataclass
class Pending:
    creates: dict[str, float] = field(default_factory=dict)          # pod name -> expires at
    deletes: dict[str, tuple[str, float]] = field(default_factory=dict)  # uid -> (name, expires at)

    def empty(self) -> bool:
        return not self.creates and not self.deletes


class Expectations:
    def __init__(self, clock: Callable[[], float], ttl: float = 60.0) -> None:
        self._clock = clock
        self.ttl = ttl
        self._pairs: dict[PairKey, Pending] = {}

    def expect_create(self, key: PairKey, name: str) -> None:
        self._pairs.setdefault(key, Pending()).creates[name] = self._clock() + self.ttl

    def expect_delete(self, key: PairKey, uid: str, name: str) -> None:
        self._pairs.setdefault(key, Pending()).deletes[uid] = (name, self._clock() + self.ttl)

    def seen(self, key: PairKey, name: str) -> None:
        """The cache shows pod ``name`` of ``key``: a create we expected has landed."""
        p = self._pairs.get(key)
        if p is not None and p.creates.pop(name, None) is not None:
            self._tidy(key, p)

    def gone(self, key: PairKey, uid: str, name: str) -> None:
        """The cache dropped the pod: a delete we expected has landed (so has a create)."""
        p = self._pairs.get(key)
        if p is None:
            return
        p.deletes.pop(uid, None)
        p.creates.pop(name, None)
        self._tidy(key, p)

    def pending(self, key: PairKey) -> Pending:
        """What is still expected for ``key`` (expired entries too, until resolved)."""
        p = self._pairs.get(key)
        return Pending() if p is None else Pending(dict(p.creates), dict(p.deletes))

    def expired(self) -> list[tuple[PairKey, str, str, str]]:
        """``(key, "create"|"delete", name, uid)`` of the entries past their time: the
        caller asks the API server what became of them, then calls :meth:`forget`."""
        now = self._clock()
        out = []
        for key, p in self._pairs.items():
            out += [(key, "create", name, "") for name, until in p.creates.items() if until <= now]
            out += [(key, "delete", name, uid) for uid, (name, until) in p.deletes.items() if until <= now]
        return out

    def forget(self, key: PairKey, name: str, uid: str = "") -> None:
        p = self._pairs.get(key)
        if p is None:
            return
        p.creates.pop(name, None)
        if uid:
            p.deletes.pop(uid, None)
        self._tidy(key, p)

    def next_expiry(self) -> float | None:
        times = [t for p in self._pairs.values() for t in p.creates.values()]
        times += [t for p in self._pairs.values() for _, t in p.deletes.values()]
        return min(times) if times else None

    def keys(self) -> list[PairKey]:
        return list(self._pairs)

    def _tidy(self, key: PairKey, p: Pending) -> None:
        if p.empty():
            self._pairs.pop(key, None)
