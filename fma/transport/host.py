"""``Host``: a process's actors, reachable over ZeroMQ, with its event stream and debug socket."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from fma.actors import ActorSystem, EffectHandler, Msg, NoSuchActor
from fma.actors.messages import ReplyFn, error_body
from fma.events import EventLog
from fma.transport.codec import DEFAULT_MAX_FRAME, Envelope
from fma.transport.curve import CurveServer, release_context, server_context
from fma.transport.loop import is_private

log = logging.getLogger(__name__)

RouteFn = Callable[[str, Any], Any]


class Host(ActorSystem):
    """An :class:`~fma.actors.ActorSystem` that also serves (see :mod:`fma.transport`).

    ``bind``: the ROUTER endpoint for asks/tells (``tcp://127.0.0.1:0``, ``ipc://PATH``) or
    None for a local-only host; ``debug_socket``: the debug socket endpoint or None.
    Nothing is bound until :meth:`serve`.
    """

    def __init__(
        self,
        log: EventLog,
        bind: str | None = None,
        *,
        debug_socket: str | None = None,
        name: str = "host",
        effects: EffectHandler | None = None,
        pub_bind: str | None = None,
        curve: CurveServer | None = None,
        heartbeat_s: float = 1.0,
        missed_beats: int = 3,
        max_frame: int = DEFAULT_MAX_FRAME,
        workers: int = 4,
        max_restarts: int = 5,
        restart_window_s: float = 60.0,
        on_peer_up: Callable[[str], None] | None = None,
        on_peer_down: Callable[[str], None] | None = None,
    ) -> None:
        if not isinstance(log, EventLog):
            raise TypeError(f"Host(log, bind, ...): log must be an EventLog, got {type(log).__name__}")
        super().__init__(log, effects=effects, max_restarts=max_restarts, restart_window_s=restart_window_s)
        for addr in (bind, debug_socket, pub_bind):
            if addr is not None and curve is None and not is_private(addr):
                raise ValueError(f"host {name}: refusing to bind {addr} without CURVE keys (use ipc or 127.0.0.1, or pass curve=)")
        self.name = name
        self.bind = bind
        self.debug_bind = debug_socket
        self._pub_bind = pub_bind
        self._curve = curve
        self._heartbeat_s = heartbeat_s
        self._missed_beats = missed_beats
        self.max_frame = max_frame
        self._workers_n = workers
        self._on_peer_up = on_peer_up
        self._on_peer_down = on_peer_down
        self._default: RouteFn | None = None
        self._endpoint: Any = None
        self._debug: Any = None
        self._ctx: Any = None
        self._pool: ThreadPoolExecutor | None = None
        self.address: str | None = None
        self.pub_address: str | None = None
        self.debug_address: str | None = None

    # --- serving -------------------------------------------------------------------------
    def serve(self, default: RouteFn | None = None) -> "Host":
        """Bind and start answering; ``default(type, body)`` answers envelopes without ``to``."""
        from fma.transport.debugsock import DebugServer
        from fma.transport.server import Endpoint

        if default is not None:
            self._default = default
        if self._endpoint is not None or self._debug is not None:
            return self
        self._ctx = server_context(self._curve)
        self._pool = ThreadPoolExecutor(self._workers_n, thread_name_prefix=f"fma-host-{self.name}")
        try:
            if self.bind is not None:
                self._endpoint = Endpoint(
                    self.bind, name=self.name, dispatch=self._dispatch, log=self.log, pub_bind=self._pub_bind,
                    system_ops={"$paths": lambda body: self.paths(),
                                "$states": lambda body: [s.row() for s in self.states()]},
                    max_frame=self.max_frame, heartbeat_s=self._heartbeat_s, missed_beats=self._missed_beats,
                    curve=self._curve, ctx=self._ctx, on_peer_up=self._on_peer_up, on_peer_down=self._on_peer_down,
                ).start()
                self.address = self._endpoint.address
                self.pub_address = self._endpoint.pub_address
                log.info("host %s: serving on %s (events on %s)", self.name, self.address, self.pub_address)
            if self.debug_bind is not None:
                self._debug = DebugServer(self.log, self.debug_bind, states=self.states, max_frame=self.max_frame,
                                          curve=self._curve, ctx=self._ctx, name=self.name).start()
                self.debug_address = self._debug.address
                log.info("host %s: debug socket on %s", self.name, self.debug_address)
        except BaseException:
            self._close_faces()
            raise
        return self

    def _close_faces(self) -> None:
        if self._endpoint is not None:
            self._endpoint.stop()
            self._endpoint = None
        if self._debug is not None:
            self._debug.stop()
            self._debug = None
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        release_context(self._ctx)
        self._ctx = None

    def stop(self, timeout: float = 5.0) -> None:
        """Stop answering, then stop every actor this host started."""
        self._close_faces()
        super().stop(timeout)

    close = stop

    def __enter__(self) -> "Host":
        return self

    def peers(self) -> list[str]:
        """Senders heard from within the last missed-beats window."""
        return self._endpoint.peers() if self._endpoint is not None else []

    # --- dispatch (IO thread) ------------------------------------------------------------
    def _dispatch(self, env: Envelope, reply: ReplyFn | None) -> None:
        path = env.to
        if path is None or (path == self.name and path not in self):
            if self._default is None:
                raise NoSuchActor(f"host {self.name}: no default handler; address an actor with 'to'")
            self._run_route(self._default, env, reply)
            return
        kind = self.kind(path)
        if kind == "actor":
            self.supervisor.deliver(path, Msg(env.type, env.body, reply=reply, deadline=env.deadline,
                                              sender=env.sender, tell=reply is None))
        elif kind == "route":
            fn = self._route(path)
            assert fn is not None
            self._run_route(fn, env, reply)
        else:
            raise NoSuchActor(f"host {self.name}: no actor at {path}")

    def _run_route(self, fn: RouteFn, env: Envelope, reply: ReplyFn | None) -> None:
        def run() -> None:
            try:
                result = fn(env.type, env.body)
            except Exception as exc:
                log.info("host %s: %s %r to %s failed: %s", self.name, env.kind, env.type, env.to, exc)
                if reply is not None:
                    reply(False, error_body(exc))
                return
            if reply is not None:
                reply(True, result)

        assert self._pool is not None
        self._pool.submit(run)
