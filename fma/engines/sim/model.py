"""The simulator's timing and memory model: pure arithmetic, no I/O, no clock.

Durations (seconds of modelled time; divide by ``time_scale`` for wall time):

* start  = ``init_s`` (+ ``graph_capture_s`` unless ``--enforce-eager``) + weights ÷ disk bw
* sleep level 1 = weights ÷ D2H bw (weights to pinned host RAM; the KV cache is discarded)
* sleep level 2 = ``release_s`` (weights and KV cache discarded, nothing copied)
* wake after level 1 = weights ÷ H2D bw; after level 2 = weights ÷ disk bw (reload)

GPU bytes per GPU while awake: ``gpu_memory_utilization`` × GPU size (vLLM's claim), or
weights ÷ TP + ``--kv-cache-memory-bytes`` + overhead when that flag is given. The KV
cache is what is left of the claim after weights and overhead.
Defaults and their sources: docs/DECISIONS.md ("Engines: simulator defaults").
"""

from __future__ import annotations

from dataclasses import dataclass

from fma.engines.base import H100_BYTES
from fma.engines.memory import DEFAULT_UNKNOWN_WEIGHT_BYTES, RUNTIME_OVERHEAD_BYTES
from fma.engines.options import VllmOptions

GB = 10**9
DEFAULT_INIT_S = 20.0            # Python imports + engine/worker start, without weights
DEFAULT_GRAPH_CAPTURE_S = 10.0   # CUDA graph capture (skipped with --enforce-eager)
DEFAULT_DISK_BW = 3.0 * GB       # effective safetensors load rate, bytes/s
DEFAULT_D2H_BW = 50.0 * GB       # pinned device→host over PCIe Gen5 x16, bytes/s
DEFAULT_H2D_BW = 50.0 * GB       # pinned host→device over PCIe Gen5 x16, bytes/s
DEFAULT_RELEASE_S = 0.05         # freeing memory without copying (level-2 sleep)


@dataclass(frozen=True)
class SimParams:
    weight_bytes: int = DEFAULT_UNKNOWN_WEIGHT_BYTES
    tensor_parallel_size: int = 1
    gpu_memory_bytes: int = H100_BYTES
    gpu_memory_utilization: float = 0.9
    kv_cache_memory_bytes: int | None = None
    kv_bytes_per_token: int = 131072
    init_s: float = DEFAULT_INIT_S
    graph_capture_s: float = DEFAULT_GRAPH_CAPTURE_S
    enforce_eager: bool = False
    disk_bw: float = DEFAULT_DISK_BW
    d2h_bw: float = DEFAULT_D2H_BW
    h2d_bw: float = DEFAULT_H2D_BW
    release_s: float = DEFAULT_RELEASE_S
    time_scale: float = 1.0

    # -- memory ------------------------------------------------------------------------
    @property
    def weights_per_gpu(self) -> int:
        return -(-self.weight_bytes // self.tensor_parallel_size)

    @property
    def gpu_claim_bytes(self) -> int:
        """Bytes taken on *each* GPU while awake."""
        if self.kv_cache_memory_bytes is not None:
            return self.weights_per_gpu + self.kv_cache_memory_bytes + RUNTIME_OVERHEAD_BYTES
        return max(int(self.gpu_memory_utilization * self.gpu_memory_bytes), self.weights_per_gpu)

    @property
    def kv_cache_bytes(self) -> int:
        """KV-cache bytes per GPU: the claim less weights and runtime overhead (≥ 0)."""
        if self.kv_cache_memory_bytes is not None:
            return self.kv_cache_memory_bytes
        return max(0, self.gpu_claim_bytes - self.weights_per_gpu - RUNTIME_OVERHEAD_BYTES)

    @property
    def kv_cache_tokens(self) -> int:
        per_gpu_token = max(1, self.kv_bytes_per_token // self.tensor_parallel_size)
        return self.kv_cache_bytes // per_gpu_token

    @property
    def host_bytes_level1(self) -> int:
        """Host RAM a level-1 sleeper holds (its weights, all ranks)."""
        return self.weight_bytes

    # -- time (modelled seconds) ----------------------------------------------------------
    def start_s(self) -> float:
        capture = 0.0 if self.enforce_eager else self.graph_capture_s
        return self.init_s + capture + self.weight_bytes / self.tensor_parallel_size / self.disk_bw

    def sleep_s(self, level: int) -> float:
        if level == 1:
            return self.weights_per_gpu / self.d2h_bw
        return self.release_s

    def wake_s(self, level: int) -> float:
        if level == 1:
            return self.weights_per_gpu / self.h2d_bw
        return self.weights_per_gpu / self.disk_bw

    def wall(self, modelled_s: float) -> float:
        """Wall-clock seconds for a modelled duration at this time scale."""
        return modelled_s / self.time_scale


def params_from_options(opts: VllmOptions, weight_bytes: int, **overrides: object) -> SimParams:
    """SimParams for a vLLM command line; ``overrides`` are the simulator's own flags."""
    base = dict(
        weight_bytes=weight_bytes,
        tensor_parallel_size=opts.tensor_parallel_size,
        gpu_memory_utilization=opts.gpu_memory_utilization,
        kv_cache_memory_bytes=opts.kv_cache_memory_bytes,
        enforce_eager=opts.enforce_eager,
    )
    base.update({k: v for k, v in overrides.items() if v is not None})
    return SimParams(**base)  # type: ignore[arg-type]
