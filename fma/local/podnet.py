"""Pod IPs on the loopback network: each pod gets its own 127.0.x.y.

Linux routes all of 127.0.0.0/8 to ``lo``, so any address there can be bound without
configuration; pods can therefore use their real ports (8080, 8081, 8000...) side by side.
127.0.0.0/24 is left to the host (the API server, the controller); pods get 127.0.1.1 up.

Several clusters on one host (two ``fma local`` runs, tests running side by side) must not
share addresses: a pod's probe would reach another cluster's server on the same IP and
port and call it Ready. So a default allocator claims a whole 127.B.0.0/16 block — the
first B from 0 whose claim address (127.B.0.1, port :data:`CLAIM_PORT`) it can bind — and
holds that socket until :meth:`PodIPAllocator.close` or the process exits. Alone on the
host, pods get 127.0.1.1 up as before; a second cluster gets 127.1.1.1 up, and so on.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading

log = logging.getLogger(__name__)
CLAIM_PORT = 32300  # below Linux's ephemeral range (32768+), so only claims take it


class PodNetExhausted(RuntimeError):
    """No free pod IP is left."""


class PodIPAllocator:
    """Hands out 127.0.x.y addresses, one per pod key; released addresses are reused last."""

    def __init__(self, first: str | None = None, last: str | None = None) -> None:
        self._claim: socket.socket | None = None
        if first is None and last is None:
            block, self._claim = claim_block()
            first, last = f"127.{block}.1.1", f"127.{block}.255.254"
        first = first or "127.0.1.1"
        last = last or "127.255.255.254"
        self._next = int(ipaddress.IPv4Address(first))
        self._last = int(ipaddress.IPv4Address(last))
        self._by_key: dict[str, str] = {}
        self._free: list[str] = []
        self._lock = threading.Lock()

    def allocate(self, key: str) -> str:
        """The pod's IP (the same one again for the same key while it holds one)."""
        with self._lock:
            if key in self._by_key:
                return self._by_key[key]
            while True:
                if self._next <= self._last:
                    addr = ipaddress.IPv4Address(self._next)
                    self._next += 1
                    if addr.packed[3] in (0, 255):  # skip .0 and .255: they look like network/broadcast
                        continue
                    ip = str(addr)
                elif self._free:
                    ip = self._free.pop(0)
                else:
                    raise PodNetExhausted(f"no pod IP left for {key}")
                self._by_key[key] = ip
                return ip

    def release(self, key: str) -> None:
        with self._lock:
            ip = self._by_key.pop(key, None)
            if ip is not None:
                self._free.append(ip)

    def get(self, key: str) -> str | None:
        with self._lock:
            return self._by_key.get(key)

    def in_use(self) -> dict[str, str]:
        with self._lock:
            return dict(self._by_key)

    @property
    def block(self) -> str | None:
        """The claimed 127.B.0.0/16 block, or None for an allocator given an explicit range."""
        return None if self._claim is None else f"127.{self._claim.getsockname()[0].split('.')[1]}.0.0/16"

    def close(self) -> None:
        """Give the claimed block back (other clusters on this host may take it)."""
        if self._claim is not None:
            self._claim.close()
            self._claim = None


def claim_block() -> tuple[int, socket.socket]:
    """The first free 127.B.0.0/16 block and the bound socket that holds it."""
    for block in range(256):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind((f"127.{block}.0.1", CLAIM_PORT))
        except OSError:
            sock.close()
            continue
        if block:
            log.info("pod IPs from 127.%d.1.1: lower blocks are held by other clusters on this host", block)
        return block, sock
    raise PodNetExhausted(f"every 127.B.0.0/16 block is claimed (port {CLAIM_PORT} bound on each 127.B.0.1)")
