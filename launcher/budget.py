"""The node's GPUs and the byte budget: who holds how many bytes where.

Usage is never stored: it is a function of the instances' lifecycle states, so it cannot
drift from them (and a fold of the log gives it back). An instance holds its
``gpu_bytes`` on each of its GPUs while ``loading``, ``awake``, ``swapping`` or
``stopping``; a ``sleeping`` one holds ``host_bytes`` of host RAM instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

from fma.statemachines import InstanceState

ON_GPU = frozenset({InstanceState.LOADING, InstanceState.AWAKE, InstanceState.SWAPPING,
                    InstanceState.STOPPING, InstanceState.PENDING})
ON_HOST = frozenset({InstanceState.SLEEPING})


@dataclass(frozen=True)
class Gpu:
    uuid: str
    index: int
    total_bytes: int
    name: str = ""


@dataclass(frozen=True)
class Holding:
    """What one instance asks of the node (fixed at admission)."""

    instance_id: str
    state: InstanceState
    gpu_uuids: tuple[str, ...]
    gpu_bytes: int
    host_bytes: int


def discover_gpus(mock_count: int | None, mock_bytes: int, node: str) -> list[Gpu]:
    """``mock_count`` mock GPUs when given, else NVML (through :mod:`fma.gpus`), else none."""
    from fma.gpus import discover

    found = discover(mock_count=mock_count, mock_bytes=mock_bytes, node=node, use_nvml=mock_count is None)
    return [Gpu(g.uuid, g.index, int(g.total_bytes), g.name) for g in found.gpus]


def mock_gpus(count: int, total_bytes: int, node: str) -> list[Gpu]:
    """``count`` mock GPUs with :mod:`fma.gpus`' deterministic UUIDs."""
    from fma.gpus import mock_gpus as _mock

    return [Gpu(g.uuid, g.index, int(g.total_bytes), g.name) for g in _mock(count, total_bytes, node=node)]


class Budget:
    """GPU byte budget per GPU plus a host-RAM budget for sleepers (pure arithmetic)."""

    def __init__(self, gpus: Iterable[Gpu], host_bytes: int | None = None) -> None:
        self.gpus: dict[str, Gpu] = {g.uuid: g for g in gpus}
        self.host_bytes = host_bytes

    def indices(self, uuids: Iterable[str]) -> list[int]:
        return [self.gpus[u].index for u in uuids]

    def unknown(self, uuids: Iterable[str]) -> list[str]:
        return [u for u in uuids if u not in self.gpus]

    def gpu_used(self, holdings: Iterable[Holding]) -> dict[str, int]:
        used = {u: 0 for u in self.gpus}
        for h in holdings:
            if h.state in ON_GPU:
                for u in h.gpu_uuids:
                    if u in used:
                        used[u] += h.gpu_bytes
        return used

    def host_used(self, holdings: Iterable[Holding]) -> int:
        return sum(h.host_bytes for h in holdings if h.state in ON_HOST)

    def gpu_shortfall(self, holdings: Iterable[Holding], uuids: Iterable[str], need: int) -> str | None:
        """None when ``need`` bytes fit on every GPU of ``uuids``; else a message with numbers."""
        used = self.gpu_used(holdings)
        for u in uuids:
            g = self.gpus[u]
            free = g.total_bytes - used[u]
            if need > free:
                return (f"does not fit on GPU {u} (index {g.index}): needs {need} bytes, "
                        f"{free} bytes free of {g.total_bytes}")
        return None

    def host_shortfall(self, holdings: Iterable[Holding], need: int) -> str | None:
        if self.host_bytes is None:
            return None
        free = self.host_bytes - self.host_used(holdings)
        if need > free:
            return f"host RAM for sleepers: needs {need} bytes, {free} bytes free of {self.host_bytes}"
        return None

    def overcommitted(self, holdings: Iterable[Holding]) -> Mapping[str, int]:
        """GPUs whose holdings exceed their memory (should always be empty)."""
        used = self.gpu_used(list(holdings))
        return {u: b for u, b in used.items() if b > self.gpus[u].total_bytes}
