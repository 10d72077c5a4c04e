"""Pod IPs on the loopback network: each pod gets its own 127.0.x.y.

Linux routes all of 127.0.0.0/8 to ``lo``, so any address there can be bound without
configuration; pods can therefore use their real ports (8080, 8081, 8000...) side by side.
127.0.0.0/24 is left to the host (the API server, the controller); pods get 127.0.1.1 up.
"""

from __future__ import annotations

import ipaddress
import threading


class PodNetExhausted(RuntimeError):
    """No free pod IP is left."""


class PodIPAllocator:
    """Hands out 127.0.x.y addresses, one per pod key; released addresses are reused last."""

    def __init__(self, first: str = "127.0.1.1", last: str = "127.255.255.254") -> None:
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
