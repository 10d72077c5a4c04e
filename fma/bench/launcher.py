"""Launcher: time to a ready instance, preloaded fork server vs cold api_server; ask/event latency."""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

TINY = Path(__file__).resolve().parents[2] / "models" / "tiny-llama"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--engine", choices=("vllm", "sim"), default="vllm", help="engine to start (default vllm)")
    p.add_argument("--model", default=str(TINY), help="model (default the tiny local llama)")
    p.add_argument("--repeat", type=int, default=1, help="starts of each kind (default 1)")
    p.add_argument("--asks", type=int, default=200, help="ask round trips for the latency part (default 200)")
    p.add_argument("--skip-start", action="store_true", help="only the ask/event latency part")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for one instance (default 300)")


def _options(model: str, port: int) -> str:
    return f"--model {model} --port {port} --host 127.0.0.1 --enforce-eager --max-model-len 256"


def _time_to_ready(spawner: Any, engine: Any, model: str, log_dir: str, timeout: float) -> float:
    from fma.engines import ServerClient, free_port
    from fma.engines.options import parse_options
    from launcher.ids import CreateRequest
    from launcher.node import instance_command
    from launcher.procs import signal_group, wait_gone

    port = free_port()
    opts = parse_options(_options(model, port))
    argv, env = instance_command(engine, CreateRequest(options=_options(model, port)), opts.argv, [])
    log_path = os.path.join(log_dir, f"{type(spawner).__name__}-{port}.log")
    t0 = time.monotonic()
    pid = spawner.spawn(argv, env, log_path)
    try:
        with ServerClient(f"http://127.0.0.1:{port}") as c:
            c.wait_ready(timeout, alive=lambda: os.path.exists(f"/proc/{pid}"))
        return time.monotonic() - t0
    finally:
        signal_group(pid, signal.SIGTERM)
        if not wait_gone(pid, None, 15):
            signal_group(pid, signal.SIGKILL)
        signal_group(pid, signal.SIGKILL)


def start_times(args: argparse.Namespace, say: Any = print) -> dict[str, float]:
    from launcher.main import make_engine
    from launcher.spawner import ColdSpawner, ZygoteSpawner

    with tempfile.TemporaryDirectory() as d:
        ns = argparse.Namespace(sim_time_scale=1.0, mock_gpu_memory=80 * 10**9)
        engine = make_engine(args.engine, ns, Path(d))
        cold_s = [_time_to_ready(ColdSpawner(args.engine), engine, args.model, d, args.timeout)
                  for _ in range(args.repeat)]
        t0 = time.monotonic()
        zy = ZygoteSpawner(args.engine)
        preload_s = time.monotonic() - t0
        try:
            warm_s = [_time_to_ready(zy, engine, args.model, d, args.timeout) for _ in range(args.repeat)]
        finally:
            zy.close()
    cold, warm = statistics.median(cold_s), statistics.median(warm_s)
    say(f"engine {args.engine}, model {args.model}, {args.repeat} start(s) each (median):")
    say(f"  cold  python -m <api_server>      time to /health 200: {cold:7.2f} s   {[round(x, 2) for x in cold_s]}")
    say(f"  preloaded fork-server child       time to /health 200: {warm:7.2f} s   {[round(x, 2) for x in warm_s]}")
    say(f"  fork server start (one-off, imports {zy.preload_s:.1f} s):  {preload_s:7.2f} s")
    say(f"  ratio preloaded / cold: {warm / cold:.3f}   (goal <= 0.3)")
    return {"cold_s": cold, "preloaded_s": warm, "ratio": warm / cold, "fork_server_start_s": preload_s}


def rest_latency(args: argparse.Namespace, say: Any = print) -> dict[str, float]:
    import httpx

    from launcher import main as lmain
    from launcher.ids import WatchEvent

    with tempfile.TemporaryDirectory() as d:
        ns = argparse.Namespace(node="bench", host="127.0.0.1", port=0, zmq=None, debug_socket="none", state_dir=d,
                                log_dir=None, engine="sim", mock_gpus=1, mock_gpu_memory=80 * 10**9,
                                host_memory=None, sim_time_scale=1000.0, stop_grace=5.0, no_preload=False,
                                no_validate=False, stop_instances_on_exit=True)
        lz = lmain.build(ns)
        lmain.start_http(lz, "127.0.0.1", 0)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{lz.port}") as c:
                c.get("/v2/vllm/instances")
                t: list[float] = []
                for _ in range(args.asks):
                    t0 = time.perf_counter()
                    c.get("/v2/vllm/instances")
                    t.append(time.perf_counter() - t0)
                lat: list[float] = []
                node = lz.node
                with c.stream("GET", "/v2/vllm/watch", params={"since": node.revision}) as r:
                    lines = r.iter_lines()
                    for _ in range(min(args.asks, 50)):
                        with node.lock:
                            node.revision += 1
                            sent = time.perf_counter()
                            node.watch.add(WatchEvent(node.revision, "CREATED", {"revision": node.revision}))
                        next(line for line in lines if line)
                        lat.append(time.perf_counter() - sent)
            fig = {"rest_ask_ms_p50": statistics.median(t) * 1e3, "rest_ask_ms_p99": sorted(t)[int(len(t) * 0.99) - 1] * 1e3,
                   "watch_event_ms_p50": statistics.median(lat) * 1e3}
            say(f"REST ask (GET /v2/vllm/instances): median {fig['rest_ask_ms_p50']:.2f} ms, "
                f"p99 {fig['rest_ask_ms_p99']:.2f} ms over {len(t)}")
            say(f"REST watch event (record -> NDJSON line at client): median {fig['watch_event_ms_p50']:.2f} ms "
                f"over {len(lat)}")
        finally:
            lz.close(stop_instances=True)
    return fig


def quick(with_vllm: bool = False) -> dict[str, float]:
    """The figures of ``fma bench all``: REST latency (simulated engine), and with real vLLM the
    preloaded vs cold time to ready."""
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("transitions").setLevel(logging.WARNING)
    p = argparse.ArgumentParser()
    add_arguments(p)
    fig = rest_latency(p.parse_args([]), lambda line: None)
    if with_vllm:
        fig.update(start_times(p.parse_args(["--engine", "vllm"]), lambda line: None))
    return fig


def run(args: argparse.Namespace) -> int:
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("transitions").setLevel(logging.WARNING)
    if not args.skip_start:
        start_times(args)
    rest_latency(args)
    return 0
