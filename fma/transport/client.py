"""``RemoteHost``: talk to another process's host — asks, tells, heartbeats, event streams."""

from __future__ import annotations

import itertools
import logging
import os
import queue
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import zmq

from fma.actors.messages import ActorError, AskTimeout, RemoteError
from fma.events import Record
from fma.transport.codec import DEFAULT_MAX_FRAME, Envelope, EnvelopeError, decode, encode
from fma.transport.curve import CurveClient, apply_client
from fma.transport.loop import IOLoop, drain

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 5.0


class PeerDown(ActorError):
    """The remote host missed its heartbeats; asks fail until it answers again."""


class _Pending:
    __slots__ = ("event", "ok", "body")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.ok = False
        self.body: Any = None

    def set(self, ok: bool, body: Any) -> None:
        self.ok, self.body = ok, body
        self.event.set()


class RemoteRef:
    """A remote actor by path; looks like a pykka ref: ``ask(type, body, timeout=)``, ``tell``."""

    def __init__(self, peer: "RemoteHost", path: str | None) -> None:
        self.peer = peer
        self.path = path

    def __repr__(self) -> str:
        return f"RemoteRef({self.peer.address} {self.path})"

    def ask(self, type: str, body: Any = None, *, timeout: float = DEFAULT_TIMEOUT_S) -> Any:
        return self.peer.ask(self.path, type, body, timeout=timeout)

    def tell(self, type: str, body: Any = None) -> None:
        self.peer.tell(self.path, type, body)

    @property
    def is_alive(self) -> bool:
        return self.peer.up


class RemoteHost:
    """A connection to one :class:`~fma.transport.Host` (reconnects by itself).

    ``on_down(address)`` / ``on_up(address)`` run on a callback thread when the peer misses
    ``missed_beats`` heartbeats / answers again (``on_up`` also on first contact).
    """

    def __init__(
        self,
        address: str,
        *,
        name: str | None = None,
        heartbeat_s: float = 1.0,
        missed_beats: int = 3,
        curve: CurveClient | None = None,
        max_frame: int = DEFAULT_MAX_FRAME,
        on_up: Callable[[str], None] | None = None,
        on_down: Callable[[str], None] | None = None,
        ctx: zmq.Context | None = None,
    ) -> None:
        self.address = address
        self.sender = name or f"client-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.heartbeat_s = heartbeat_s
        self.missed_beats = missed_beats
        self.max_frame = max_frame
        self._curve = curve
        self._on_up = on_up
        self._on_down = on_down
        self._ids = itertools.count(1)
        self._pending: dict[Any, _Pending] = {}
        self.state = "connecting"  # connecting | up | down
        self._state_cond = threading.Condition()
        self._last_heard = time.monotonic()
        self._callbacks = ThreadPoolExecutor(1, thread_name_prefix="fma-client-cb")
        self.loop = IOLoop(f"client-{self.sender}", ctx)
        self.dealer = self.loop.socket(zmq.DEALER)
        apply_client(self.dealer, curve)
        self.dealer.setsockopt(zmq.SNDHWM, 100_000)  # bursts of tells queue here, not in drops
        self.dealer.setsockopt(zmq.RECONNECT_IVL, 50)
        self.dealer.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
        try:
            self.dealer.connect(address)
        except zmq.ZMQError as exc:
            self.loop.stop()
            self._callbacks.shutdown(wait=False)
            raise ValueError(f"cannot connect to {address!r}: {exc} (use tcp://HOST:PORT or ipc://PATH)") from None
        self.loop.add_reader(self.dealer, self._on_dealer)
        self.loop.every(heartbeat_s, self._beat)
        self._sub: zmq.Socket | None = None
        self._streams: Any = None  # fma.transport.stream.StreamHub, made on first subscribe
        self._closed = False
        self.dropped = 0
        self._local = threading.local()
        self._thread_socks: list[tuple[threading.Thread, zmq.Socket]] = []
        self._socks_lock = threading.Lock()
        self.loop.start()
        self.loop.call_soon(self._beat)

    # --- requests ------------------------------------------------------------------------
    def ref(self, path: str | None) -> RemoteRef:
        return RemoteRef(self, path)

    def ask(self, to: str | None, type: str, body: Any = None, *, timeout: float = DEFAULT_TIMEOUT_S) -> Any:
        """Ask the actor at ``to`` (None: the host's default handler); the reply body.

        Raises :class:`RemoteError` (``.code`` = remote error name), :class:`AskTimeout`,
        or :class:`PeerDown`. The calling thread does the round trip on a socket of its
        own (no hand-off to the IO thread), so asks from one thread keep their order."""
        sock = self._thread_socket()
        id_ = next(self._ids)
        end = time.monotonic() + timeout
        frame = encode(Envelope("ask", type, id_, self.sender, body, time.time() + timeout, to), self.max_frame)
        try:
            sock.send(frame, zmq.NOBLOCK)
        except zmq.Again:
            raise PeerDown(f"host {self.address}: send queue full") from None
        slice_ms = max(1, int(self.heartbeat_s * 1000))
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise AskTimeout(f"ask {type!r} to {to or self.address}: no reply in {timeout} s")
            if not sock.poll(min(slice_ms, int(left * 1000) + 1)):
                if self._closed:
                    raise PeerDown(f"connection to {self.address} closed")
                if self.state == "down":
                    raise PeerDown(f"host {self.address} is down (missed {self.missed_beats} heartbeats)")
                continue
            raw = sock.recv()
            self._heard()
            try:
                env = decode(raw, max(self.max_frame, 64 << 20))
            except EnvelopeError as exc:
                log.warning("client %s: bad frame from %s: %s", self.sender, self.address, exc)
                continue
            if env.id != id_:
                continue  # the late reply of an ask that timed out
            if env.kind == "reply":
                return env.body
            err = env.body if isinstance(env.body, dict) else {"error": "BadReply", "message": repr(env.body)}
            raise RemoteError(str(err.get("error", "Error")), str(err.get("message", "")), err)

    def tell(self, to: str | None, type: str, body: Any = None) -> None:
        """Fire and forget (at most once: the host drops a duplicate id); PeerDown while down."""
        sock = self._thread_socket()
        frame = encode(Envelope("tell", type, next(self._ids), self.sender, body, None, to), self.max_frame)
        try:
            sock.send(frame, zmq.NOBLOCK)
        except zmq.Again:
            self._count_drop()

    def _thread_socket(self) -> zmq.Socket:
        """This thread's DEALER to the host (made on first use)."""
        if self._closed:
            sock = getattr(self._local, "sock", None)
            if sock is not None:
                sock.close(0)
                self._local.sock = None
            raise PeerDown(f"connection to {self.address} is closed")
        if self.state == "down":
            raise PeerDown(f"host {self.address} is down (missed {self.missed_beats} heartbeats)")
        sock = getattr(self._local, "sock", None)
        if sock is None:
            sock = self.loop.ctx.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.SNDHWM, 100_000)  # bursts of tells queue here, not in drops
            sock.setsockopt(zmq.RECONNECT_IVL, 50)
            sock.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
            apply_client(sock, self._curve)
            sock.connect(self.address)
            self._local.sock = sock
            with self._socks_lock:
                self._thread_socks.append((threading.current_thread(), sock))
        return sock

    def _count_drop(self) -> None:
        self.dropped += 1
        if self.dropped == 1 or self.dropped % 10_000 == 0:
            log.warning("client %s: send queue to %s is full; %d message(s) dropped so far",
                        self.sender, self.address, self.dropped)

    def send_raw(self, frame: bytes) -> None:
        """Send bytes as they are (tests of the host's defences)."""
        self.loop.call_soon(lambda: self._send_quiet(frame))

    def _send_quiet(self, frame: bytes) -> None:
        try:
            self.dealer.send(frame, zmq.NOBLOCK)
        except zmq.Again:
            self._count_drop()

    def _on_dealer(self) -> None:
        drain(self.dealer, self._on_dealer_frames)

    def _on_dealer_frames(self, frames: list[bytes]) -> None:
        self._heard()
        try:
            env = decode(frames[-1], max(self.max_frame, 64 << 20))
        except EnvelopeError as exc:
            log.warning("client %s: bad frame from %s: %s", self.sender, self.address, exc)
            return
        if env.type == "$ping" and env.kind == "reply" and isinstance(env.body, dict):
            if self._streams is not None:
                self._streams.tick(env.body.get("last_seq", 0))
        pending = self._pending.pop(env.id, None)
        if pending is not None:
            pending.set(env.kind == "reply", env.body)
        elif env.kind == "error" and env.id is None:
            log.warning("client %s: error from %s: %s", self.sender, self.address, env.body)

    # --- liveness ------------------------------------------------------------------------
    def _heard(self) -> None:
        self._last_heard = time.monotonic()
        if self.state != "up":
            with self._state_cond:  # callers' threads and the IO thread all hear replies
                if self.state == "up":
                    return
                self.state = "up"
                self._state_cond.notify_all()
            log.info("client %s: host %s is up", self.sender, self.address)
            if self._on_up is not None:
                self._callbacks.submit(self._on_up, self.address)
            if self._streams is not None:
                self._streams.peer_up()

    def _beat(self) -> None:
        if self.state != "down" and time.monotonic() - self._last_heard > self.heartbeat_s * self.missed_beats:
            with self._state_cond:
                if time.monotonic() - self._last_heard <= self.heartbeat_s * self.missed_beats:
                    return self._send_quiet(self._ping_frame())
                self.state = "down"
                self._state_cond.notify_all()
            log.warning("client %s: host %s missed %d heartbeats: down", self.sender, self.address, self.missed_beats)
            err = PeerDown(f"host {self.address} is down (missed {self.missed_beats} heartbeats)")
            for id_ in list(self._pending):
                p = self._pending.pop(id_, None)
                if p is not None:
                    p.set(False, err)
            if self._on_down is not None:
                self._callbacks.submit(self._on_down, self.address)
        self._send_quiet(self._ping_frame())

    def _ping_frame(self) -> bytes:
        return encode(Envelope("ask", "$ping", f"hb-{next(self._ids)}", self.sender, None,
                               time.time() + self.heartbeat_s * self.missed_beats))

    @property
    def up(self) -> bool:
        return self.state == "up"

    def wait_state(self, state: str, timeout: float) -> bool:
        """Wait until the peer is ``"up"`` or ``"down"``; False on timeout."""
        with self._state_cond:
            return self._state_cond.wait_for(lambda: self.state == state, timeout)

    def wait_up(self, timeout: float = DEFAULT_TIMEOUT_S) -> bool:
        return self.wait_state("up", timeout)

    # --- event streams -------------------------------------------------------------------
    def subscribe(
        self,
        callback: Callable[[Record], None] | None = None,
        *,
        prefix: str = "",
        machine: str | None = None,
        state: str | None = None,
        since: int | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> Any:
        """A stream of the host's records (see :class:`fma.transport.stream.EventStream`)."""
        from fma.transport.stream import StreamHub

        if self._streams is None:
            self._streams = StreamHub(self)
        return self._streams.open(callback, prefix=prefix, machine=machine, state=state, since=since, timeout=timeout)

    def _connect_sub(self, pub: str, on_frames: Callable[[list[bytes]], None]) -> None:
        """On the loop: (re)connect the SUB socket to ``pub``."""
        if self._sub is None:
            self._sub = self.loop.socket(zmq.SUB)
            apply_client(self._sub, self._curve)
            self._sub.setsockopt(zmq.RCVHWM, 100_000)
            self._sub.setsockopt(zmq.SUBSCRIBE, b"")
            sub = self._sub

            def read() -> None:
                drain(sub, on_frames)

            self.loop.add_reader(self._sub, read)
            self._sub_addr: str | None = None
        if self._sub_addr != pub:
            if self._sub_addr is not None:
                self._sub.disconnect(self._sub_addr)
            self._sub.connect(pub)
            self._sub_addr = pub

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._streams is not None:
            self._streams.close()
        self.loop.stop()
        self._callbacks.shutdown(wait=False)
        me = threading.current_thread()
        with self._socks_lock:
            socks, self._thread_socks = self._thread_socks, []
        for owner, sock in socks:
            # a socket may only be closed by its thread, or once that thread is gone;
            # the others close themselves on their thread's next call
            if owner is me or not owner.is_alive():
                sock.close(0)
        self._local = threading.local()
        for id_ in list(self._pending):
            p = self._pending.pop(id_, None)
            if p is not None:
                p.set(False, PeerDown(f"connection to {self.address} closed"))

    def __enter__(self) -> "RemoteHost":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(address: str, **kwargs: Any) -> RemoteHost:
    """A :class:`RemoteHost` for ``address`` (same keyword arguments)."""
    return RemoteHost(address, **kwargs)
