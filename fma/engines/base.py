"""The ``Engine`` protocol: what the launcher and controllers see of a vLLM-like server.

Two implementations: :class:`fma.engines.vllm.VllmEngine` (a real ``vllm`` API server
process) and :class:`fma.engines.sim.SimEngine` (``fma sim-vllm``, a timing and memory
model with vLLM's HTTP surface). Both start a child process in its own process group and
return a :class:`ServerProcess`; talk to it with :class:`fma.engines.client.ServerClient`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, NamedTuple, Protocol, Sequence, runtime_checkable

from fma.engines.options import VllmOptions

H100_BYTES = 80 * 10**9  # NVIDIA H100 SXM/PCIe: 80 GB HBM (nvidia-smi shows 81559 MiB)


@dataclass(frozen=True)
class EngineSpec:
    """One server to start.

    ``options`` is the vLLM options string (or argv list); ``gpu_indices`` become
    ``CUDA_VISIBLE_DEVICES``; ``env`` is added to the child's environment; output goes to
    ``log_path`` (a temporary file when None); ``name`` labels logs and errors.
    """

    options: str | Sequence[str]
    gpu_indices: tuple[int, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    log_path: Path | None = None
    name: str = ""
    gpu_uuids: tuple[str, ...] = ()


class MemoryEstimate(NamedTuple):
    """Bytes one server needs. ``gpu_bytes`` is per GPU while awake;
    ``host_bytes_when_asleep`` is host RAM held by a level-1 sleeper (its weights, all GPUs)."""

    gpu_bytes: int
    host_bytes_when_asleep: int


@runtime_checkable
class ServerProcess(Protocol):
    """A started server. ``url`` is its HTTP base URL (``http://127.0.0.1:PORT``)."""

    pid: int
    url: str
    log_path: Path

    def poll(self) -> int | None:
        """Exit code when the process has ended, else None (never blocks)."""

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait up to ``timeout`` seconds; exit code or None when still running."""

    def stop(self, grace: float = 10.0) -> int:
        """SIGTERM the process group, wait ``grace`` s, then SIGKILL it; return the exit code."""


@runtime_checkable
class Engine(Protocol):
    name: str

    def command(self, spec: EngineSpec) -> tuple[list[str], dict[str, str]]:
        """The argv and the *extra* environment that :meth:`start` would use."""

    def start(self, spec: EngineSpec) -> ServerProcess:
        """Start the server process (returns at once; use ``ServerClient.wait_ready``)."""

    def estimate_bytes(self, options: str | Sequence[str] | VllmOptions,
                       gpu_total_bytes: int = H100_BYTES) -> MemoryEstimate:
        """Memory the server would take, for the launcher's memory-fit admission."""
