"""One thread that owns some ZeroMQ sockets; other threads hand it work with ``call_soon``.

ZeroMQ sockets are not thread-safe, so every socket lives on exactly one loop and every
send from another thread is a closure queued here (a coalesced wake-up over inproc).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from typing import Callable

import zmq

log = logging.getLogger(__name__)

_ids = itertools.count()


def context() -> zmq.Context:
    """The process-wide context (sockets with CURVE authentication get their own)."""
    return zmq.Context.instance()


class IOLoop:
    def __init__(self, name: str, ctx: zmq.Context | None = None) -> None:
        self.name = name
        self.ctx = ctx or context()
        self._poller = zmq.Poller()
        self._readers: dict[zmq.Socket, Callable[[], None]] = {}
        self._sockets: list[zmq.Socket] = []
        self._calls: deque[Callable[[], None]] = deque()
        self._timers: list[list] = []  # [interval, next_at, fn]
        self._wake_lock = threading.Lock()
        self._wake_pending = False
        addr = f"inproc://fma-loop-{next(_ids)}-{id(self):x}"
        self._wake_r = self.ctx.socket(zmq.PAIR)
        self._wake_r.bind(addr)
        self._wake_w = self.ctx.socket(zmq.PAIR)
        self._wake_w.connect(addr)
        self._poller.register(self._wake_r, zmq.POLLIN)
        self._running = False
        self._thread: threading.Thread | None = None

    def socket(self, kind: int) -> zmq.Socket:
        """A socket owned by this loop (closed when the loop stops)."""
        sock = self.ctx.socket(kind)
        sock.setsockopt(zmq.LINGER, 0)
        self._sockets.append(sock)
        return sock

    def add_reader(self, sock: zmq.Socket, fn: Callable[[], None]) -> None:
        """Call ``fn`` on the loop whenever ``sock`` is readable (before start, or on the loop)."""
        self._readers[sock] = fn
        self._poller.register(sock, zmq.POLLIN)

    def remove_reader(self, sock: zmq.Socket) -> None:
        if self._readers.pop(sock, None) is not None:
            self._poller.unregister(sock)

    def every(self, interval: float, fn: Callable[[], None]) -> None:
        self._timers.append([interval, time.monotonic() + interval, fn])

    def call_soon(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the loop thread (thread-safe, cheap when the loop is busy)."""
        self._calls.append(fn)
        with self._wake_lock:
            if self._wake_pending or self._wake_w is None:
                return
            self._wake_pending = True
            try:
                self._wake_w.send(b"", zmq.NOBLOCK)
            except zmq.Again:  # wake-ups already queued: the loop will drain the calls
                pass

    @property
    def on_loop(self) -> bool:
        return threading.current_thread() is self._thread

    def start(self) -> "IOLoop":
        self._running = True
        self._thread = threading.Thread(target=self._run, name=f"fma-io-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        if self._thread is None:
            self._close()
            return
        def halt() -> None:
            self._running = False
        self.call_soon(halt)
        if not self.on_loop:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("io loop %s did not stop in %.1f s", self.name, timeout)
        self._thread = None

    def _close(self) -> None:
        for sock in self._sockets:
            sock.close(0)
        with self._wake_lock:
            self._wake_w.close(0)
            self._wake_w = None  # type: ignore[assignment]
        self._wake_r.close(0)

    def _run(self) -> None:
        try:
            while self._running:
                timeout = None
                if self._timers:
                    now = time.monotonic()
                    timeout = max(0.0, min(t[1] for t in self._timers) - now) * 1000
                for sock, _ in self._poller.poll(timeout):
                    if sock is self._wake_r:
                        self._drain_calls()
                    else:
                        self._guard(self._readers[sock])
                if self._timers:
                    now = time.monotonic()
                    for t in self._timers:
                        if now >= t[1]:
                            t[1] = now + t[0]
                            self._guard(t[2])
        finally:
            self._close()

    def _drain_calls(self) -> None:
        # Read the wake-ups first, THEN clear the flag: cleared first, a wake-up sent in
        # between would be swallowed here while the flag stays set, and no later
        # call_soon would ever wake the loop again.
        try:
            while readable(self._wake_r):
                self._wake_r.recv(zmq.NOBLOCK)
        except zmq.Again:
            pass
        with self._wake_lock:
            self._wake_pending = False
        calls = self._calls
        while calls:
            self._guard(calls.popleft())

    def _guard(self, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception:  # one bad callback must not stop the loop
            log.exception("io loop %s: callback failed", self.name)


def readable(sock: zmq.Socket) -> bool:
    """A message can be received now. Checked before each non-blocking receive in the drain
    loops: ending a drain on ``zmq.Again`` instead costs an exception (~10 µs) per wake-up,
    several per ask."""
    return bool(sock.get(_EVENTS) & _POLLIN)


_EVENTS, _POLLIN = int(zmq.EVENTS), int(zmq.POLLIN)  # plain ints: enum arithmetic costs µs here


def drain(sock: zmq.Socket, handle: Callable[[list[bytes]], None], batch: int = 1000) -> None:
    """Hand up to ``batch`` waiting multipart messages to ``handle``."""
    for _ in range(batch):
        if not readable(sock):
            return
        try:
            frames = sock.recv_multipart(zmq.NOBLOCK)
        except zmq.Again:
            return
        handle(frames)


def bind(sock: zmq.Socket, addr: str) -> str:
    """Bind ``addr`` (``tcp://host:0`` picks a free port; ipc dirs are created); the real endpoint."""
    if addr.startswith("tcp://") and addr.endswith(":0"):
        addr = addr[:-2] + ":*"
    if addr.startswith("ipc://"):
        import os

        path = addr[len("ipc://"):]
        if len(path.encode()) > 107:
            raise ValueError(f"ipc path too long for a unix socket ({len(path)} bytes): {path}")
        parent = os.path.dirname(path)
        if parent:
            os.makedirs(parent, exist_ok=True)
    try:
        sock.bind(addr)
    except zmq.ZMQError as exc:
        raise OSError(f"cannot bind {addr}: {exc}") from None
    return sock.getsockopt_string(zmq.LAST_ENDPOINT)


LOOPBACK = ("127.0.0.1", "localhost", "[::1]", "::1")


def is_private(addr: str) -> bool:
    """ipc, inproc and loopback TCP need no CURVE keys; anything else does."""
    if addr.startswith(("ipc://", "inproc://")):
        return True
    if addr.startswith("tcp://"):
        host = addr[len("tcp://"):].rsplit(":", 1)[0]
        return host in LOOPBACK or host.startswith("127.")
    return False
