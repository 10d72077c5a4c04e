"""``SimEngine``: starts ``fma sim-vllm`` processes — vLLM's HTTP surface over a timing
and memory model (see :mod:`fma.engines.sim.model`). Same :class:`Engine` protocol as
:class:`fma.engines.vllm.VllmEngine`; the rest of the system cannot tell them apart.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Sequence

from fma.engines.base import H100_BYTES, EngineSpec, MemoryEstimate
from fma.engines.memory import estimate
from fma.engines.options import VllmOptions, parse_options
from fma.engines.process import PopenServerProcess
from fma.engines.vllm import base_env, server_url


class SimEngine:
    """Starts simulated vLLM servers.

    ``time_scale`` (1000 = 1000× faster than modelled), ``ledger_dir`` (a directory shared
    by every simulator on the node: per-GPU memory accounting across processes),
    ``gpu_memory_bytes`` (each mock GPU's size) and ``sim_args`` (any other
    ``fma sim-vllm`` flags, e.g. fault knobs) are added to every server's command line.
    """

    name = "sim"

    def __init__(self, time_scale: float = 1.0, ledger_dir: Path | str | None = None,
                 gpu_memory_bytes: int = H100_BYTES, sim_args: Sequence[str] = (),
                 python: str = sys.executable) -> None:
        self.time_scale = time_scale
        self.ledger_dir = Path(ledger_dir) if ledger_dir is not None else None
        self.gpu_memory_bytes = gpu_memory_bytes
        self.sim_args = list(sim_args)
        self.python = python

    def command(self, spec: EngineSpec) -> tuple[list[str], dict[str, str]]:
        opts = parse_options(spec.options)
        argv = [self.python, "-m", "fma", "sim-vllm", *opts.argv,
                "--time-scale", repr(float(self.time_scale)),
                "--gpu-memory-bytes", str(self.gpu_memory_bytes)]
        if self.ledger_dir is not None:
            argv += ["--gpu-ledger", str(self.ledger_dir)]
        if spec.gpu_uuids:
            argv += ["--gpu-uuids", ",".join(spec.gpu_uuids)]
        argv += self.sim_args
        return argv, base_env(spec)

    def start(self, spec: EngineSpec) -> PopenServerProcess:
        opts = parse_options(spec.options)
        argv, extra = self.command(spec)
        return PopenServerProcess(argv, {**os.environ, **extra}, server_url(opts),
                                  log_path=spec.log_path, name=spec.name or f"sim:{opts.model}:{opts.port}")

    def estimate_bytes(self, options: str | Sequence[str] | VllmOptions,
                       gpu_total_bytes: int = H100_BYTES) -> MemoryEstimate:
        return estimate(options, gpu_total_bytes)
