"""``fma sim-vllm``: a vLLM stand-in with vLLM's HTTP API and a time/memory model."""

from __future__ import annotations

import argparse
from typing import Any, Sequence

DESCRIPTION = """\
A simulated vLLM OpenAI API server. Takes vLLM's own command-line options (any model name;
--port, --served-model-name, --gpu-memory-utilization, --kv-cache-memory-bytes,
--tensor-parallel-size, --enforce-eager, --max-model-len are modelled, the rest accepted)
plus the simulator flags below. Serves /health, /v1/models, /v1/completions,
/v1/chat/completions, /sleep, /wake_up, /is_sleeping, /metrics.

Time model: start = init + weights / disk bandwidth; level-1 sleep = weights / D2H;
wake = weights / H2D (level 2: weights / disk). All durations are divided by --time-scale.
Memory model: the server claims its bytes on each of its GPUs (CUDA_VISIBLE_DEVICES or
--gpu-uuids) in a ledger shared by all simulators using the same --gpu-ledger directory;
a start or wake that does not fit fails the way vLLM does.
"""

EXAMPLE = """\
example:
  fma sim-vllm --model meta-llama/Llama-3.1-8B-Instruct --port 8005 --time-scale 100
  fma sim-vllm --model my/unknown --weight-bytes 20GB --port 8006 --fail-wake-oom 1
"""


class _PassThroughParser(argparse.ArgumentParser):
    """Keeps every argument it does not know (vLLM's options) in ``ns.vllm_args``."""

    def parse_known_args(self, args: Sequence[str] | None = None, namespace: Any = None):  # type: ignore[override]
        ns, extra = super().parse_known_args(args, namespace)
        ns.vllm_args = list(getattr(ns, "vllm_args", None) or []) + list(extra)
        return ns, []


def _bytes(text: str) -> int:
    from fma.engines.options import _byte_size

    return _byte_size(text)


def add_sim_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("simulator")
    g.add_argument("--time-scale", type=float, default=1.0, help="speed-up factor: 1000 = 1000x faster (default 1)")
    g.add_argument("--weight-bytes", type=_bytes, help="weight bytes for a model the catalog lacks (e.g. 16GB)")
    g.add_argument("--init-seconds", type=float, help="modelled start time before loading weights (default 20)")
    g.add_argument("--graph-capture-seconds", type=float, help="modelled CUDA graph capture, skipped with --enforce-eager (default 10)")
    g.add_argument("--disk-bw", type=_bytes, help="weight load bandwidth, bytes/s (default 3GB)")
    g.add_argument("--d2h-bw", type=_bytes, help="GPU->host bandwidth for level-1 sleep, bytes/s (default 50GB)")
    g.add_argument("--h2d-bw", type=_bytes, help="host->GPU bandwidth for wake, bytes/s (default 50GB)")
    g.add_argument("--gpu-memory-bytes", type=_bytes, help="size of each simulated GPU (default 80GB, an H100)")
    g.add_argument("--gpu-ledger", help="directory shared by simulators on one node: per-GPU memory accounting")
    g.add_argument("--gpu-uuids", help="comma-separated GPU keys for the ledger (default CUDA_VISIBLE_DEVICES)")
    g.add_argument("--token-latency-seconds", type=float, default=0.0, help="modelled seconds per generated token")
    f = p.add_argument_group("fault knobs")
    f.add_argument("--fail-wake-oom", type=int, default=0, metavar="N", help="the next N wake-ups fail with CUDA OOM (HTTP 500)")
    f.add_argument("--crash-after", type=float, metavar="S", help="exit with code 1 after S modelled seconds")
    f.add_argument("--health-delay", type=float, default=0.0, metavar="S", help="answer /health S modelled seconds late")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sim-vllm", help="a simulated vLLM server (vLLM's HTTP API, time and memory model)",
                       description=DESCRIPTION, epilog=EXAMPLE, allow_abbrev=False,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.__class__ = _PassThroughParser
    add_sim_arguments(p)
    p.set_defaults(handler=run, vllm_args=[])


def build_config(args: argparse.Namespace) -> Any:
    """SimConfig from parsed arguments (raises OptionsError / SystemExit with a message)."""
    import os

    from fma.engines.catalog import lookup
    from fma.engines.memory import DEFAULT_UNKNOWN_WEIGHT_BYTES
    from fma.engines.options import parse_options
    from fma.engines.sim.ledger import FileLedger
    from fma.engines.sim.model import params_from_options
    from fma.engines.sim.server import Faults, SimConfig, default_gpus

    opts = parse_options(args.vllm_args)
    info = lookup(opts.model)
    weight_bytes = args.weight_bytes or (info.weight_bytes if info else DEFAULT_UNKNOWN_WEIGHT_BYTES)
    params = params_from_options(
        opts, weight_bytes, time_scale=args.time_scale, init_s=args.init_seconds,
        graph_capture_s=args.graph_capture_seconds, disk_bw=args.disk_bw, d2h_bw=args.d2h_bw,
        h2d_bw=args.h2d_bw, gpu_memory_bytes=args.gpu_memory_bytes,
        kv_bytes_per_token=info.kv_bytes_per_token if info else None,
    )
    if params.time_scale <= 0:
        raise SystemExit("fma sim-vllm: --time-scale must be > 0")
    gpus = default_gpus(opts.tensor_parallel_size, [u for u in (args.gpu_uuids or "").split(",") if u])
    if len(gpus) < opts.tensor_parallel_size:
        raise SystemExit(f"fma sim-vllm: --tensor-parallel-size {opts.tensor_parallel_size} needs that many GPUs; "
                         f"have {list(gpus)}")
    ledger = FileLedger(args.gpu_ledger, params.gpu_memory_bytes) if args.gpu_ledger else None
    return SimConfig(
        params=params, model=opts.model, served_names=opts.model_names, port=opts.port,
        # FMA_POD_IP: the pod IP `fma local`'s kubelet gives a pod (launcher instances inherit it)
        host=opts.host or os.environ.get("FMA_POD_IP") or "127.0.0.1",
        max_model_len=opts.max_model_len or 2048, gpus=gpus, ledger=ledger,
        faults=Faults(fail_wake_oom=args.fail_wake_oom, crash_after_s=args.crash_after,
                      health_delay_s=args.health_delay),
        token_latency_s=args.token_latency_seconds,
    )


def run(args: argparse.Namespace) -> int:
    import asyncio
    import logging
    import signal

    from fma.engines.options import OptionsError
    from fma.engines.sim.server import serve

    log = logging.getLogger("fma.sim_vllm")
    try:
        cfg = build_config(args)
    except OptionsError as exc:
        log.error("fma sim-vllm: %s", exc)
        return 2

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        return await serve(cfg, stop)

    return asyncio.run(main())
