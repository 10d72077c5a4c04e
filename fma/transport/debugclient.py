"""Client of the debug socket: ``state``, ``history`` and a gap-free ``tail``."""

from __future__ import annotations

import itertools
import time
from typing import Any, Iterator

import zmq

from fma.events import Record
from fma.events.fold import ActorState
from fma.transport.codec import pack, unpack
from fma.transport.curve import CurveClient, apply_client

PING_EVERY_S = 5.0


class DebugError(RuntimeError):
    """The debug socket answered ``{ok: false}``, or did not answer in time."""


class DebugClient:
    """A synchronous client (use it from one thread)."""

    def __init__(self, address: str, *, timeout: float = 5.0, curve: CurveClient | None = None,
                 ctx: zmq.Context | None = None) -> None:
        self.address = address
        self.timeout = timeout
        self._ctx = ctx or zmq.Context.instance()
        self._sock = self._ctx.socket(zmq.DEALER)
        self._sock.setsockopt(zmq.LINGER, 0)
        apply_client(self._sock, curve)
        self._sock.connect(address)
        self._ids = itertools.count(1)
        self.gaps = 0

    def close(self) -> None:
        self._sock.close(0)

    def __enter__(self) -> "DebugClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, req: Any) -> None:
        self._sock.send(pack(req))

    def send_raw(self, frame: bytes) -> None:
        self._sock.send(frame)

    def recv(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The next message, or None after ``timeout`` s."""
        t = self.timeout if timeout is None else timeout
        if not self._sock.poll(int(t * 1000)):
            return None
        msg = unpack(self._sock.recv(), 1 << 30)
        return msg if isinstance(msg, dict) else {"ok": False, "error": f"bad reply {msg!r:.80}"}

    def request(self, req: dict[str, Any]) -> dict[str, Any]:
        """Send one request and return its reply (raises :class:`DebugError` on ok=false)."""
        rid = next(self._ids)
        self.send({**req, "id": rid})
        end = time.monotonic() + self.timeout
        while True:
            left = end - time.monotonic()
            msg = self.recv(max(0.0, left)) if left > 0 else None
            if msg is None:
                raise DebugError(f"debug socket {self.address}: no reply to {req.get('op')!r} in {self.timeout} s")
            if msg.get("id") != rid:
                continue  # a late message of an earlier request
            if not msg.get("ok"):
                raise DebugError(f"debug socket {self.address}: {msg.get('error')}")
            return msg

    def state(self, prefix: str = "", machine: str | None = None, state: str | None = None) -> tuple[int, list[ActorState]]:
        """``(seq, states)``: each actor's folded state at ``seq``."""
        msg = self.request({"op": "state", "prefix": prefix, "machine": machine, "state": state})
        rows = [ActorState(r["actor"], r["machine"], r["state"], r["seq"]) for r in msg["actors"]]
        return msg["seq"], rows

    def history(self, actor: str) -> list[Record]:
        return [Record.from_dict(r) for r in self.request({"op": "history", "actor": actor})["records"]]

    def tail(self, since: int | None = None, prefix: str = "", machine: str | None = None,
             state: str | None = None, idle_timeout: float | None = None) -> Iterator[Record]:
        """Records in seq order; re-tails from the last one received if the server dropped
        any. Ends after ``idle_timeout`` s without a record (None: never)."""
        flt = {"prefix": prefix, "machine": machine, "state": state}
        ack = self.request({"op": "tail", "since": since, **flt})  # registered before we return
        return self._tail(ack["id"], ack["after"], flt, idle_timeout)

    def _tail(self, rid: Any, expected: int, flt: dict[str, Any], idle_timeout: float | None) -> Iterator[Record]:
        last_ping = idle_since = time.monotonic()
        try:
            while True:
                now = time.monotonic()
                if now - last_ping > PING_EVERY_S:
                    self.send({"op": "ping"})
                    last_ping = now
                wait = PING_EVERY_S if idle_timeout is None else min(PING_EVERY_S, idle_since + idle_timeout - now)
                if idle_timeout is not None and wait <= 0:
                    return
                msg = self.recv(wait)
                if msg is None or msg.get("id") != rid or msg.get("op") != "record":
                    continue
                if msg.get("after") != expected:  # the server dropped records for us: start again
                    self.gaps += 1
                    rid = next(self._ids)
                    self.send({"op": "tail", "since": expected, "id": rid, **flt})
                    continue
                rec = Record.from_dict(msg["record"])
                expected = rec.seq
                idle_since = time.monotonic()
                yield rec
        finally:
            try:
                self.send({"op": "untail"})
            except zmq.ZMQError:
                pass
