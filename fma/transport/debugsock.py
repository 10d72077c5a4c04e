"""The debug socket (CONTRACTS.md B3): state, history and tail over a ROUTER, never a crash."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import zmq

from fma.actors import LiveFold
from fma.events import EventLog, Record
from fma.events.fold import ActorState
from fma.transport.codec import DEFAULT_MAX_FRAME, EnvelopeError, pack, unpack
from fma.transport.curve import CurveServer, apply_server
from fma.transport.loop import IOLoop, bind, is_private
from fma.transport.service import LogFedService

log = logging.getLogger(__name__)

HISTORY_LIMIT = 10_000
TAIL_TTL_S = 30.0


class BadRequest(ValueError):
    pass


@dataclass
class Filter:
    prefix: str = ""
    machine: str | None = None
    state: str | None = None

    @classmethod
    def parse(cls, req: Mapping[str, Any]) -> "Filter":
        src = req.get("filter") if isinstance(req.get("filter"), Mapping) else req
        for name in ("prefix", "actor", "machine", "state"):
            v = src.get(name)  # checked before any `or`: a falsy non-string (0, 0.0, []) is still wrong
            if v is not None and not isinstance(v, str):
                raise BadRequest(f"filter {name!r} must be a string, got {v!r:.60}")
        return cls(src.get("prefix") or src.get("actor") or "", src.get("machine"), src.get("state"))

    def record(self, rec: Record) -> bool:
        return (rec.actor.startswith(self.prefix) and (self.machine is None or rec.machine == self.machine)
                and (self.state is None or rec.dst == self.state))

    def actor(self, st: ActorState) -> bool:
        return (st.actor.startswith(self.prefix) and (self.machine is None or st.machine == self.machine)
                and (self.state is None or st.state == self.state))


@dataclass
class _Tail:
    ident: bytes
    req_id: Any
    filter: Filter
    after: int  # seq of the last record sent (or the starting point)
    pinged: float


class DebugServer(LogFedService):
    """Serves ``log`` on a ROUTER at ``bind_addr``. ``states()`` defaults to a fold of the log."""

    def __init__(
        self,
        log: EventLog,
        bind_addr: str,
        *,
        states: Callable[[], list[ActorState]] | None = None,
        name: str = "debug",
        max_frame: int = DEFAULT_MAX_FRAME,
        curve: CurveServer | None = None,
        ctx: zmq.Context | None = None,
        tail_ttl_s: float = TAIL_TTL_S,
    ) -> None:
        if curve is None and not is_private(bind_addr):
            raise ValueError(f"debug socket: refusing to bind {bind_addr} without CURVE keys")
        self.log = log
        self.name = name
        self.max_frame = max_frame
        self.tail_ttl_s = tail_ttl_s
        self._fold = LiveFold()
        self._fold_lock = threading.Lock()
        self._states = states or self._fold_states
        self._tails: dict[bytes, _Tail] = {}
        loop = IOLoop(f"debug-{name}", ctx)
        router = loop.socket(zmq.ROUTER)
        apply_server(router, curve)
        try:  # a draft option in libzmq: tails also end by TTL and by 'untail'
            router.setsockopt(zmq.ROUTER_NOTIFY, zmq.NOTIFY_DISCONNECT)
        except (AttributeError, zmq.ZMQError):
            pass
        router.setsockopt(zmq.MAXMSGSIZE, max_frame * 4)
        router.setsockopt(zmq.SNDHWM, 100_000)
        self.address = bind(router, bind_addr)
        self._init_service(loop, router, log)
        self.loop.every(min(5.0, tail_ttl_s / 3), self._expire_tails)
        self.refused = 0

    def close(self) -> None:
        self.stop()

    def _fold_states(self) -> list[ActorState]:
        with self._fold_lock:
            self._fold.catch_up(self.log)
            st = self._fold.states()
        return [st[a] for a in sorted(st)]

    # --- requests ------------------------------------------------------------------------
    def _on_frames(self, frames: list[bytes]) -> None:
        ident = frames[0]
        if len(frames) == 2 and frames[1] == b"":  # ROUTER_NOTIFY: the client went away
            self._tails.pop(ident, None)
            return
        req_id = None
        try:
            if len(frames) != 2:
                raise BadRequest(f"expected one frame after the identity, got {len(frames) - 1}")
            try:
                req = unpack(frames[1], self.max_frame)
            except EnvelopeError as exc:
                raise BadRequest(str(exc)) from None
            if not isinstance(req, Mapping):
                raise BadRequest(f"request must be a map with 'op', got {type(req).__name__}")
            req_id = req.get("id")
            if req_id is not None and not isinstance(req_id, (int, str)):
                req_id = None
            reply = self._handle(ident, req)
        except (BadRequest, ValueError, TypeError, KeyError) as exc:
            self.refused += 1
            log.warning("debug socket %s: bad request from %s: %s", self.name, ident.hex(), exc)
            reply = {"ok": False, "error": str(exc)}
        except Exception as exc:  # never let a request kill the socket
            self.refused += 1
            log.exception("debug socket %s: request failed", self.name)
            reply = {"ok": False, "error": f"internal error: {exc!r}"}
        if reply is not None:
            if req_id is not None:
                reply["id"] = req_id
            self._send(ident, reply)

    def _send(self, ident: bytes, msg: dict[str, Any]) -> None:
        try:
            self.router.send_multipart([ident, pack(msg)], zmq.NOBLOCK)
        except zmq.Again:  # the client is not reading; its tail will see the gap
            pass

    def _handle(self, ident: bytes, req: Mapping[str, Any]) -> dict[str, Any] | None:
        op = req.get("op")
        if op == "state":
            flt = Filter.parse(req)
            rows = [s.row() for s in self._states() if flt.actor(s)]
            return {"ok": True, "op": "state", "seq": self.log.last_seq, "actors": rows}
        if op == "history":
            actor = req.get("actor")
            if not isinstance(actor, str) or not actor:
                raise BadRequest("history needs 'actor': an actor path")
            records = [r.to_dict() for r in self.log.read(actor=actor)]
            return {"ok": True, "op": "history", "actor": actor, "records": records[-HISTORY_LIMIT:]}
        if op == "tail":
            return self._tail(ident, req)
        if op == "untail":
            self._tails.pop(ident, None)
            return {"ok": True, "op": "untail"}
        if op == "ping":
            tail = self._tails.get(ident)
            if tail is not None:
                tail.pinged = time.monotonic()
            return {"ok": True, "op": "pong", "seq": self.log.last_seq}
        raise BadRequest(f"unknown op {op!r:.60}; known: state, history, tail, untail, ping")

    def _tail(self, ident: bytes, req: Mapping[str, Any]) -> None:
        assert self._feed is not None
        flt = Filter.parse(req)
        since = req.get("since")
        if since is not None and (not isinstance(since, int) or isinstance(since, bool) or since < 0):
            raise BadRequest(f"tail 'since' must be a seq >= 0, got {since!r:.60}")
        self._catch_up()  # bring the feed up to date so the backlog and live records meet exactly
        start = self._feed.last if since is None else min(since, self._feed.last)
        req_id = req.get("id")
        tail = _Tail(ident, req_id, flt, start, time.monotonic())
        self._tails[ident] = tail
        self._send(ident, {"ok": True, "op": "tail", "after": start, "last_seq": self._feed.last,
                           **({"id": req_id} if req_id is not None else {})})
        if start < self._feed.last:
            for rec in self.log.read(since=start):
                if rec.seq > self._feed.last:
                    break
                self._emit(tail, rec)
        return None

    def _emit(self, tail: _Tail, rec: Record) -> None:
        if not tail.filter.record(rec):
            return
        msg: dict[str, Any] = {"ok": True, "op": "record", "after": tail.after, "record": rec.to_dict()}
        if tail.req_id is not None:
            msg["id"] = tail.req_id
        tail.after = rec.seq
        self._send(tail.ident, msg)

    # --- live records --------------------------------------------------------------------
    def _on_records(self, records: Sequence[Record]) -> None:
        if not self._tails:
            return
        for rec in records:
            for tail in list(self._tails.values()):
                self._emit(tail, rec)

    def _expire_tails(self) -> None:
        limit = time.monotonic() - self.tail_ttl_s
        for ident, tail in list(self._tails.items()):
            if tail.pinged < limit:
                log.info("debug socket %s: tail of %s expired (no ping for %.0f s)", self.name, ident.hex(), self.tail_ttl_s)
                del self._tails[ident]


def serve_debug_socket(addr: str, log: EventLog, **kwargs: Any) -> DebugServer:
    """Serve ``log`` on a debug socket at ``addr`` (``ipc://PATH`` or ``tcp://127.0.0.1:PORT``)."""
    return DebugServer(log, addr, **kwargs).start()
