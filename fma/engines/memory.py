"""Memory estimates for memory-fit admission: how many bytes a server takes per GPU.

vLLM (without ``--kv-cache-memory-bytes``) claims ``gpu_memory_utilization`` × the GPU's
total memory: weights first, the rest for activations and the KV cache. With
``--kv-cache-memory-bytes`` it takes weights ÷ TP + that KV budget + a fixed overhead.
A level-1 sleeper keeps a copy of its weights in host RAM (all TP ranks together).
"""

from __future__ import annotations

from typing import Sequence

from fma.engines.base import H100_BYTES, MemoryEstimate
from fma.engines.catalog import lookup
from fma.engines.options import VllmOptions, parse_options

DEFAULT_UNKNOWN_WEIGHT_BYTES = 16 * 10**9  # an 8B bf16 model, when the catalog does not know it
RUNTIME_OVERHEAD_BYTES = 512 * 2**20      # CUDA context, activations, graphs (order of magnitude)


def as_options(options: str | Sequence[str] | VllmOptions) -> VllmOptions:
    return options if isinstance(options, VllmOptions) else parse_options(options)


def weight_bytes_for(opts: VllmOptions, default: int = DEFAULT_UNKNOWN_WEIGHT_BYTES) -> int:
    info = lookup(opts.model)
    return info.weight_bytes if info is not None else default


def estimate(options: str | Sequence[str] | VllmOptions, gpu_total_bytes: int = H100_BYTES,
             unknown_weight_bytes: int = DEFAULT_UNKNOWN_WEIGHT_BYTES) -> MemoryEstimate:
    """(gpu bytes per GPU while awake, host bytes while asleep at level 1)."""
    opts = as_options(options)
    weights = weight_bytes_for(opts, unknown_weight_bytes)
    per_gpu_weights = -(-weights // opts.tensor_parallel_size)
    if opts.kv_cache_memory_bytes is not None:
        gpu = per_gpu_weights + opts.kv_cache_memory_bytes + RUNTIME_OVERHEAD_BYTES
    else:
        gpu = max(int(opts.gpu_memory_utilization * gpu_total_bytes), per_gpu_weights)
    return MemoryEstimate(gpu_bytes=gpu, host_bytes_when_asleep=weights)
