"""A process's actors and routes by path, under one supervisor, over one event log."""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable

from fma.actors.base import EffectHandler, LifecycleActor
from fma.actors.feed import LiveFold
from fma.actors.messages import NoSuchActor
from fma.actors.refs import PathRef, RouteFn
from fma.actors.supervisor import Supervisor
from fma.events import EventLog
from fma.events.fold import ActorState

log = logging.getLogger(__name__)


class ActorSystem:
    """Spawns :class:`LifecycleActor`s at paths, restarts them, and folds the log for ``states()``."""

    def __init__(
        self,
        log: EventLog,
        *,
        effects: EffectHandler | None = None,
        max_restarts: int = 5,
        restart_window_s: float = 60.0,
    ) -> None:
        self.log = log
        self.effects = effects
        self.supervisor = Supervisor(max_restarts=max_restarts, window_s=restart_window_s)
        self._routes: dict[str, RouteFn] = {}
        self._fold = LiveFold()
        self._fold_lock = threading.Lock()

    # --- hosting -------------------------------------------------------------------------
    def spawn(self, actor_cls: type[LifecycleActor], path: str, **kwargs: Any) -> PathRef:
        """Start ``actor_cls(path, log, effects=..., **kwargs)`` under supervision."""
        if path in self._routes:
            raise ValueError(f"path {path} is already a route")
        kwargs.setdefault("effects", self.effects)

        def factory(generation: int) -> Any:
            return actor_cls.start(path, self.log, supervisor=self.supervisor, generation=generation, **kwargs)

        self.supervisor.start(path, factory)
        log.debug("spawned %s at %s", actor_cls.__name__, path)
        return PathRef(self, path)

    def route(self, path: str, fn: RouteFn) -> PathRef:
        """Make ``fn(type, body) -> reply`` addressable at ``path`` (no lifecycle, no restarts)."""
        if path in self.supervisor:
            raise ValueError(f"path {path} is already an actor")
        self._routes[path] = fn
        return PathRef(self, path)

    def unroute(self, path: str) -> None:
        self._routes.pop(path, None)

    def _route(self, path: str) -> Callable[[str, Any], Any] | None:
        return self._routes.get(path)

    def __contains__(self, path: str) -> bool:
        return path in self._routes or path in self.supervisor

    def get(self, path: str) -> PathRef:
        if path not in self:
            raise NoSuchActor(f"no actor at {path}")
        return PathRef(self, path)

    def paths(self) -> list[str]:
        return sorted(set(self._routes) | set(self.supervisor.paths()))

    def kind(self, path: str) -> str | None:
        """``"route"``, ``"actor"`` or None."""
        if path in self._routes:
            return "route"
        if path in self.supervisor:
            return "actor"
        return None

    def states(self, prefix: str = "") -> list[ActorState]:
        """Each actor's state as the fold of the whole log (hosted here or not), by path."""
        with self._fold_lock:
            self._fold.catch_up(self.log)
            states = self._fold.states()
        return [states[a] for a in sorted(states) if a.startswith(prefix)]

    def stop(self, timeout: float = 5.0) -> None:
        """Stop every actor this system started (routes are forgotten)."""
        self.supervisor.stop_all(timeout)
        self._routes.clear()

    def __enter__(self) -> "ActorSystem":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
