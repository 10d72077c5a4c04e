"""Thousands of pods' HTTP endpoints in one process, for the churn benchmark.

Each simulated pod gets its own loopback "pod IP" (127.A.x.y) and its real port, so the
controller talks to it exactly as it would in a cluster (``http://<podIP>:<port>``). All
the listening sockets are served by one asyncio loop on one thread, with a tiny HTTP/1.1
server (keep-alive, Content-Length bodies) instead of a process per pod:

* a **requester stub** answers the SPI of CONTRACTS.md A4: ``/v1/dual-pods/accelerators``,
  ``accelerator-memory-usage``, ``become-ready`` / ``become-unready`` (reported to a
  callback, which plays the kubelet's readiness probe), ``/v1/proxy/config``, ``/ready``;
* an **engine** answers vLLM's admin calls (A5): ``/health``, ``/is_sleeping``, ``/sleep``,
  ``/wake_up``, ``/v1/models``; it is loaded at once and sleeps/wakes in zero time.
"""

from __future__ import annotations

import asyncio
import errno
import json
import random
import socket
import threading
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import urlsplit

ReadyCallback = Callable[[str, bool], None]


@dataclass
class Endpoint:
    name: str
    kind: str  # "requester" | "engine"
    gpus: list[str] = field(default_factory=list)
    sleeping: bool = False
    ready: bool = False
    servers: list[asyncio.base_events.Server] = field(default_factory=list)


def _reply(status: int, body: object) -> bytes:
    data = json.dumps(body).encode()
    reason = {200: "OK", 404: "Not Found", 500: "Internal Server Error", 503: "Service Unavailable"}[status]
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n").encode() + data


class _Http(asyncio.Protocol):
    def __init__(self, fleet: "Fleet", ep: Endpoint) -> None:
        self.fleet, self.ep = fleet, ep
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            head_end = self.buf.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buf[:head_end].decode("latin-1").split("\r\n")
            length, close = 0, False
            for line in head[1:]:
                k, _, v = line.partition(":")
                k = k.strip().lower()
                if k == "content-length":
                    length = int(v.strip() or 0)
                elif k == "connection" and v.strip().lower() == "close":
                    close = True
            if len(self.buf) < head_end + 4 + length:
                return
            self.buf = self.buf[head_end + 4 + length:]
            method, target, _ = (head[0].split(" ") + ["", ""])[:3]
            assert self.transport is not None
            self.transport.write(self.fleet.handle(self.ep, method, urlsplit(target).path))
            if close:
                self.transport.close()
                return


class Fleet:
    """The endpoints of every live simulated pod; ``on_ready(name, ready)`` plays the probe."""

    def __init__(self, on_ready: ReadyCallback) -> None:
        self.on_ready = on_ready
        self.net = random.randint(64, 250)
        self._n = 0
        self._lock = threading.Lock()
        self.endpoints: dict[str, Endpoint] = {}
        self.calls = 0
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="bench-fleet", daemon=True)
        self._thread.start()

    # ---- pods ------------------------------------------------------------------------
    def add(self, name: str, kind: str, ports: list[int], gpus: list[str] | None = None) -> str:
        """Open the pod's ports on a fresh loopback IP; returns the IP."""
        socks: list[socket.socket] = []
        while not socks:
            ip = self._next_ip()
            try:
                for port in ports:
                    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    socks.append(s)
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    s.bind((ip, port))
                    s.listen(64)
                    s.setblocking(False)
            except OSError as exc:
                for s in socks:
                    s.close()
                socks = []
                if exc.errno != errno.EADDRINUSE:
                    raise
        ep = Endpoint(name, kind, list(gpus or []))

        async def serve() -> None:
            for s in socks:
                ep.servers.append(await self.loop.create_server(lambda: _Http(self, ep), sock=s))

        asyncio.run_coroutine_threadsafe(serve(), self.loop).result(10)
        with self._lock:
            self.endpoints[name] = ep
        return ip

    def remove(self, name: str) -> None:
        with self._lock:
            ep = self.endpoints.pop(name, None)
        if ep is None:
            return

        def close() -> None:
            for srv in ep.servers:
                srv.close()

        self.loop.call_soon_threadsafe(close)

    def close(self) -> None:
        for name in list(self.endpoints):
            self.remove(name)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self.loop.close()

    def _next_ip(self) -> str:
        with self._lock:
            self._n += 1
            n = self._n
        return f"127.{self.net}.{(n // 250) % 250}.{n % 250 + 1}"

    # ---- HTTP ------------------------------------------------------------------------
    def handle(self, ep: Endpoint, method: str, path: str) -> bytes:
        self.calls += 1
        if ep.kind == "requester":
            if path == "/v1/dual-pods/accelerators":
                return _reply(200, ep.gpus) if ep.gpus else _reply(500, {"detail": "no GPUs"})
            if path == "/v1/dual-pods/accelerator-memory-usage":
                return _reply(200, {g: 0 for g in ep.gpus})
            if path in ("/v1/become-ready", "/v1/become-unready") and method == "POST":
                ep.ready = path == "/v1/become-ready"
                self.on_ready(ep.name, ep.ready)
                return _reply(200, {})
            if path == "/v1/proxy/config":
                return _reply(200, {})
            if path == "/ready":
                return _reply(200 if ep.ready else 503, {})
            if path == "/health":
                return _reply(200, {})
            return _reply(404, {"detail": f"{method} {path}"})
        if path == "/health":
            return _reply(200, {})
        if path == "/is_sleeping":
            return _reply(200, {"is_sleeping": ep.sleeping})
        if path == "/sleep" and method == "POST":
            ep.sleeping = True
            return _reply(200, {})
        if path == "/wake_up" and method == "POST":
            ep.sleeping = False
            return _reply(200, {})
        if path == "/v1/models":
            return _reply(200, {"object": "list", "data": [{"id": ep.name, "object": "model"}]})
        return _reply(404, {"detail": f"{method} {path}"})
