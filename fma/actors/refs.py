"""``PathRef``: a pykka-ref look-alike resolved by path on each call, so it survives restarts."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable

import pykka

from fma.actors.messages import ActorRestarting, AskTimeout, Msg, NoSuchActor

if TYPE_CHECKING:
    from fma.actors.system import ActorSystem

DEFAULT_TIMEOUT_S = 5.0


class PathRef:
    """Address of an actor (or a route) in this process: ``ask`` and ``tell`` by message type."""

    def __init__(self, system: "ActorSystem", path: str) -> None:
        self._system = system
        self.path = path

    def __repr__(self) -> str:
        return f"PathRef({self.path})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PathRef) and other.path == self.path and other._system is self._system

    def __hash__(self) -> int:
        return hash(self.path)

    @property
    def is_alive(self) -> bool:
        return self.path in self._system

    def tell(self, type: str, body: Any = None) -> None:
        """Notify; never waits. Errors in the actor are logged there."""
        route = self._system._route(self.path)
        if route is not None:
            route(type, body)
            return
        self._system.supervisor.deliver(self.path, Msg(type, body, tell=True))

    def ask(self, type: str, body: Any = None, *, timeout: float = DEFAULT_TIMEOUT_S) -> Any:
        """Ask and wait up to ``timeout`` s; raises :class:`AskTimeout` or the handler's error."""
        route = self._system._route(self.path)
        if route is not None:
            return route(type, body)
        end = time.monotonic() + timeout
        deadline = time.time() + timeout
        generation = -1
        sup = self._system.supervisor
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise AskTimeout(f"ask {type!r} to {self.path}: no reply in {timeout} s")
            try:
                ref, gen = sup.current(self.path, left, newer_than=generation)
            except ActorRestarting:
                raise AskTimeout(f"ask {type!r} to {self.path}: actor still restarting after {timeout} s") from None
            try:
                future = ref.ask(Msg(type, body, deadline=deadline), block=False)
                return future.get(timeout=max(0.0, end - time.monotonic()))
            except pykka.Timeout:
                raise AskTimeout(f"ask {type!r} to {self.path}: no reply in {timeout} s") from None
            except (pykka.ActorDeadError, ActorRestarting):
                if self.path not in self._system:
                    raise NoSuchActor(f"actor {self.path} has stopped") from None
                generation = gen  # not handled: wait for the next generation and retry


RouteFn = Callable[[str, Any], Any]
