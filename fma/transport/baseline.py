"""Bare ZeroMQ echo: the floor that ``fma bench transport`` sets our asks beside.

Kept in the transport package because it is the only place that may import ``zmq``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import zmq


def start_echo(addr: str) -> str:
    """Bind a ROUTER at ``addr`` that echoes every message on a daemon thread; returns the
    resolved endpoint."""
    sock = zmq.Context.instance().socket(zmq.ROUTER)
    sock.bind(addr)
    endpoint = sock.getsockopt_string(zmq.LAST_ENDPOINT)

    def echo() -> None:
        while True:
            try:
                sock.send_multipart(sock.recv_multipart())
            except zmq.ZMQError:
                return

    threading.Thread(target=echo, name=f"zmq-echo-{endpoint}", daemon=True).start()
    return endpoint


def echo_round_trips(addr: str, n: int, warmup: int = 200, payload: bytes = b"x" * 80) -> list[float]:
    """``n`` round trips (µs) of a DEALER against an echo at ``addr``."""
    s: Any = zmq.Context.instance().socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(addr)
    try:
        for _ in range(min(warmup, n)):
            s.send(payload)
            s.recv()
        out = []
        for _ in range(n):
            t0 = time.perf_counter()
            s.send(payload)
            s.recv()
            out.append((time.perf_counter() - t0) * 1e6)
        return out
    finally:
        s.close()
