"""The host's network face: a ROUTER for asks/tells and a PUB for its log's records."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Mapping, Sequence

import zmq

from fma.actors.messages import ReplyFn, error_body
from fma.events import EventLog, Record
from fma.transport.codec import DEFAULT_MAX_FRAME, Envelope, EnvelopeError, decode, encode
from fma.transport.curve import CurveServer, apply_server
from fma.transport.loop import IOLoop, bind
from fma.transport.service import LogFedService

log = logging.getLogger(__name__)

Dispatch = Callable[[Envelope, "ReplyFn | None"], None]
SystemOp = Callable[[Any], Any]
PeerCallback = Callable[[str], None]

DEDUP_CAPACITY = 10_000
CACHE_FRAME_MAX = 64 * 1024  # larger replies are not kept: their duplicates are dropped
READ_LIMIT = 5_000


def pub_address_for(addr: str) -> str:
    if addr.startswith("ipc://"):
        return addr + ".pub"
    if addr.startswith("tcp://"):
        return addr.rsplit(":", 1)[0] + ":0"
    raise ValueError(f"cannot derive an event-stream address from {addr}; pass pub_bind")


class Endpoint(LogFedService):
    """ROUTER + PUB on one IO thread: decode, refuse garbage with error replies, suppress
    duplicates, skip expired asks, answer ``$`` operations, and hand the rest to ``dispatch``."""

    def __init__(
        self,
        bind_addr: str,
        *,
        name: str,
        dispatch: Dispatch,
        log: EventLog | None = None,
        pub_bind: str | None = None,
        system_ops: Mapping[str, SystemOp] | None = None,
        max_frame: int = DEFAULT_MAX_FRAME,
        heartbeat_s: float = 1.0,
        missed_beats: int = 3,
        curve: CurveServer | None = None,
        ctx: zmq.Context | None = None,
        on_peer_up: PeerCallback | None = None,
        on_peer_down: PeerCallback | None = None,
    ) -> None:
        self.name = name
        self.log = log
        self.max_frame = max_frame
        self.heartbeat_s = heartbeat_s
        self.missed_beats = missed_beats
        self._dispatch = dispatch
        self._ops: dict[str, SystemOp] = {"$ping": self._op_ping, "$hello": self._op_hello, "$read": self._op_read}
        self._ops.update(system_ops or {})
        self._on_peer_up = on_peer_up
        self._on_peer_down = on_peer_down
        self._callbacks = ThreadPoolExecutor(1, thread_name_prefix="fma-peer-cb")
        self._seen: OrderedDict[tuple[str, Any], bytes | None] = OrderedDict()
        self._seen_lock = threading.Lock()
        self._peers: dict[bytes, tuple[float, str]] = {}
        loop = IOLoop(f"endpoint-{name}", ctx)
        router = loop.socket(zmq.ROUTER)
        apply_server(router, curve)
        router.setsockopt(zmq.MAXMSGSIZE, max_frame * 4)  # hard cap; the soft one answers
        self.address = bind(router, bind_addr)
        self._init_service(loop, router, log)
        self.pub_address: str | None = None
        if log is not None:
            self.pub = self.loop.socket(zmq.PUB)
            apply_server(self.pub, curve)
            self.pub.setsockopt(zmq.SNDHWM, 100_000)
            self.pub_address = bind(self.pub, pub_bind or pub_address_for(self.address))
        self.loop.every(heartbeat_s, self._check_peers)
        self.received = 0
        self.refused = 0

    def _after_stop(self) -> None:
        self._callbacks.shutdown(wait=False)

    # --- requests ------------------------------------------------------------------------
    def _on_frames(self, frames: list[bytes]) -> None:
        try:
            self._handle_frames(frames)
        except Exception as exc:  # a bug, not the peer's fault: still answer, never die
            log.exception("endpoint %s: frame handling failed", self.name)
            self._refuse(frames[0], EnvelopeError("InternalError", f"{type(exc).__name__}: {exc}"))

    def _handle_frames(self, frames: list[bytes]) -> None:
        ident = frames[0]
        self.received += 1
        if len(frames) != 2:
            return self._refuse(ident, EnvelopeError("BadFrame", f"expected one frame after the identity, got {len(frames) - 1}"))
        try:
            env = decode(frames[1], self.max_frame)
        except EnvelopeError as exc:
            return self._refuse(ident, exc)
        self._saw_peer(ident, env.sender)
        if env.kind not in ("ask", "tell"):
            return self._refuse(ident, EnvelopeError("BadFrame", f"a host accepts ask and tell, not {env.kind!r}",
                                                     id=env.id, sender=env.sender, type=env.type))
        host_op = env.to is None and env.type.startswith("$")  # idempotent reads: not remembered
        if env.id is not None and env.sender and not host_op:
            key = (env.sender, env.id)
            with self._seen_lock:
                if key in self._seen:
                    cached = self._seen[key]
                    if cached and env.kind == "ask":  # b"": answered, reply too big to keep
                        self.router.send_multipart([ident, cached])
                    log.info("endpoint %s: duplicate %s %r id=%r from %s suppressed", self.name, env.kind, env.type, env.id, env.sender)
                    return
                self._seen[key] = None
                if len(self._seen) > DEDUP_CAPACITY:
                    self._seen.popitem(last=False)
        if env.deadline is not None and time.time() > env.deadline:
            if env.type != "$ping":
                log.info("endpoint %s: %s %r from %s arrived after its deadline", self.name, env.kind, env.type, env.sender)
                if env.kind == "ask":
                    self._reply(ident, env, False, {"error": "DeadlineExceeded", "message": f"{env.type!r} arrived after its deadline"})
            return
        reply = self._replier(ident, env) if env.kind == "ask" else None
        if env.type.startswith("$") and env.to is None:
            op = self._ops.get(env.type)
            if op is None:
                self.refused += 1
                log.warning("endpoint %s: bad frame from %s: UnknownType: no host operation %r", self.name, env.sender, env.type)
                if reply is not None:  # through the reply cache, like every answer to a registered id
                    reply(False, {"error": "UnknownType", "message": f"no host operation {env.type!r}"})
                return
            try:
                result = op(env.body)
            except Exception as exc:
                log.warning("endpoint %s: %s failed: %s", self.name, env.type, exc)
                if reply is not None:
                    reply(False, error_body(exc))
                return
            if reply is not None:
                reply(True, result)
            return
        try:
            self._dispatch(env, reply)
        except Exception as exc:
            log.warning("endpoint %s: %s %r to %s refused: %s", self.name, env.kind, env.type, env.to, exc)
            if reply is not None:
                reply(False, error_body(exc))

    def _refuse(self, ident: bytes, exc: EnvelopeError) -> None:
        self.refused += 1
        log.warning("endpoint %s: bad frame from %s: %s: %s", self.name, ident.hex(), exc.code, exc)
        env = Envelope("error", exc.type or "error", exc.id, self.name, {"error": exc.code, "message": str(exc)})
        self.router.send_multipart([ident, encode(env, 1 << 30)])

    def _replier(self, ident: bytes, env: Envelope) -> ReplyFn:
        done = []

        def reply(ok: bool, body: Any) -> None:
            if done:
                return
            done.append(True)
            self._reply(ident, env, ok, body)

        return reply

    def _reply(self, ident: bytes, env: Envelope, ok: bool, body: Any) -> None:
        try:
            frame = encode(env.reply(self.name, body, ok), self.max_frame)
        except EnvelopeError as exc:
            frame = encode(env.reply(self.name, {"error": exc.code, "message": str(exc)}, False))
        except Exception as exc:  # an unencodable body
            frame = encode(env.reply(self.name, {"error": "BadReply", "message": f"reply not encodable: {exc}"}, False))
        if env.sender and env.id is not None:
            with self._seen_lock:
                if (env.sender, env.id) in self._seen:
                    self._seen[(env.sender, env.id)] = frame if len(frame) <= CACHE_FRAME_MAX else b""
        if self.loop.on_loop:
            self.router.send_multipart([ident, frame])
        else:
            self.loop.call_soon(lambda: self.router.send_multipart([ident, frame]))

    # --- peers ---------------------------------------------------------------------------
    def _saw_peer(self, ident: bytes, sender: str) -> None:
        # by sender: a client talks over several sockets (one per thread) but beats on one
        key = sender.encode() if sender else ident
        known = key in self._peers
        self._peers[key] = (time.monotonic(), sender)
        if not known and self._on_peer_up is not None:
            self._callbacks.submit(self._on_peer_up, sender)

    def _check_peers(self) -> None:
        limit = time.monotonic() - self.heartbeat_s * self.missed_beats
        for ident, (seen, sender) in list(self._peers.items()):
            if seen < limit:
                del self._peers[ident]
                log.warning("endpoint %s: peer %s silent for %d beats: down", self.name, sender or ident.hex(), self.missed_beats)
                if self._on_peer_down is not None:
                    self._callbacks.submit(self._on_peer_down, sender)

    def peers(self) -> list[str]:
        return sorted(s for _, s in self._peers.values())

    # --- event stream --------------------------------------------------------------------
    def _on_records(self, records: Sequence[Record]) -> None:
        for rec in records:
            env = Envelope("event", rec.machine, rec.seq, self.name, rec.to_dict())
            try:
                self.pub.send_multipart([rec.actor.encode(), encode(env, 1 << 30)], zmq.NOBLOCK)
            except zmq.Again:  # a slow subscriber: it will see the gap and read the log
                pass

    # --- host operations -----------------------------------------------------------------
    def _op_ping(self, body: Any) -> dict[str, Any]:
        return {"last_seq": self.log.last_seq if self.log is not None else 0, "t": time.time()}

    def _op_hello(self, body: Any) -> dict[str, Any]:
        return {"name": self.name, "pub": self.pub_address,
                "last_seq": self.log.last_seq if self.log is not None else 0}

    def _op_read(self, body: Any) -> dict[str, Any]:
        if self.log is None:
            raise LookupError(f"host {self.name} has no event log")
        body = body if isinstance(body, Mapping) else {}
        since = body.get("since", 0)
        until = body.get("until")
        limit = min(int(body.get("limit", READ_LIMIT)), READ_LIMIT)
        if not isinstance(since, int) or (until is not None and not isinstance(until, int)):
            raise ValueError("$read: since and until must be ints")
        out, size, more = [], 0, False
        for rec in self.log.read(since=since):
            if until is not None and rec.seq > until:
                break
            if len(out) >= limit or size > self.max_frame // 2:
                more = True
                break
            d = rec.to_dict()
            size += 64 + len(repr(d))
            out.append(d)
        return {"records": out, "last_seq": self.log.last_seq, "more": more}
