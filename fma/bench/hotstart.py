"""Hot start through the live controller: requester created -> requester Ready when a matching sleeper exists.

The same rig as ``fma bench churn`` (the ``fma controller`` and ``fma apiserver``
processes over HTTP, stub pods in this process whose engine wakes in zero time), one
requester at a time on one GPU: the first start is cold, each later one wakes the same
sleeping provider, so the figure is the control plane's own overhead. Printed beside
what FMA's 5 s ``/is_sleeping`` polling would add. ``pytest tests/bench/test_dualpods_hotstart.py``
measures the same path with the controller in-process on the in-memory API.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from typing import Any

from fma.bench._churnrig import NS, Rig
from fma.bench.churn import requester_pod

GOAL_P50_MS, GOAL_P99_MS = 50.0, 200.0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--starts", type=int, default=20, help="hot starts to time (default 20)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds allowed for one start (default 60)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


class _Watch:
    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self.cv = threading.Condition()
        self.ready: dict[str, float] = {}
        self.gone: set[str] = set()
        self.provider: dict[str, str] = {}

    def on_pod(self, typ: str, pod: dict[str, Any]) -> None:
        from fma.controllers.dualpods import names as N
        from fma.controllers.dualpods import pods as P

        name = P.name(pod)
        with self.cv:
            if typ == "DELETED":
                self.gone.add(name)
            elif P.ready(pod) and not P.deleting(pod) and name not in self.ready and P.is_requester(pod):
                self.ready[name] = time.monotonic()
                self.provider[name] = P.labels(pod).get(N.LBL_DUAL, "")
            self.cv.notify_all()

    def wait(self, what: Any, timeout: float) -> bool:
        with self.cv:
            return self.cv.wait_for(what, timeout)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    rig = Rig(1, 1)
    w = _Watch(rig)
    rig.on_pod = w.on_pod
    node, gpu = rig.nodes[0], rig.gpus[rig.nodes[0]][0]
    times: list[float] = []
    providers: set[str] = set()
    rig.start()
    try:
        for i in range(args.starts + 1):
            name = f"hot-{i:03d}"
            t0 = time.monotonic()
            rig.kube().create_pod(NS, requester_pod(name, node, gpu, "bench/hotstart"))
            if not w.wait(lambda: name in w.ready, args.timeout):
                raise RuntimeError(f"requester {name} not Ready in {args.timeout:.0f}s (logs: {rig.dir})")
            if i:  # the first start is cold: it makes the sleeper
                times.append(w.ready[name] - t0)
                providers.add(w.provider[name])
            rig.kube().delete_pod(NS, name)
            if not w.wait(lambda: name in w.gone, args.timeout):
                raise RuntimeError(f"requester {name} not released in {args.timeout:.0f}s (logs: {rig.dir})")
    finally:
        rig.close()
    times.sort()
    p50 = statistics.median(times) * 1000
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))] * 1000
    return {"bench": "hotstart", "starts": len(times), "providers": len(providers), "p50_ms": round(p50, 1),
            "p99_ms": round(p99, 1), "goal_p50_ms": GOAL_P50_MS, "goal_p99_ms": GOAL_P99_MS,
            "with_5s_polling_p50_ms": round(p50 + 2500), "with_5s_polling_p99_ms": round(p99 + 5000)}


def quick() -> dict[str, Any]:
    """The figures of ``fma bench all``: 20 hot starts."""
    p = argparse.ArgumentParser()
    add_arguments(p)
    return measure(p.parse_args([]))


def run(args: argparse.Namespace) -> int:
    out = measure(args)
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"hot start, requester created -> Ready, live `fma controller` over `fma apiserver` (n={out['starts']}, "
          f"{out['providers']} provider(s) reused): p50 {out['p50_ms']} ms, p99 {out['p99_ms']} ms "
          f"(goal p50 <= {GOAL_P50_MS:.0f}, p99 <= {GOAL_P99_MS:.0f})")
    print(f"with FMA's 5 s readiness polling: p50 ~{out['with_5s_polling_p50_ms']} ms, "
          f"p99 ~{out['with_5s_polling_p99_ms']} ms")
    return 0
