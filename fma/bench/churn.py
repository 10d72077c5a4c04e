"""Requester churn at 100 and 1000 requesters over 100 nodes x 8 GPUs: cost per binding and its growth.

What is real: the ``fma controller`` program (its own process, the code a cluster runs),
the API server emulator (``fma apiserver``, its own process, spoken to over HTTP by the
official client on both sides), every Kubernetes write and watch event, and the HTTP
calls the controller makes to requester stubs (SPI) and to model servers (vLLM admin API)
at each pod's own IP and port. What stands in (see :mod:`fma.bench._churnrig` and
:mod:`fma.bench._fleet`): the kubelet (pods get an endpoint in this process, not a
process), the requester stub and the model server (a few lines of HTTP each, in one
asyncio loop; the engine loads, sleeps and wakes in zero time, so the figures are the
control plane's own), the readiness probe (a requester turns Ready as soon as its stub is
told ``become-ready``) and the scheduler (each requester is created already placed on
its GPU: identity ``i`` always gets GPU slot ``i mod GPUs``, so a requester that comes
back lands where its sleeper is).

Workload: ``N`` requester identities over ``M`` model specs (identity ``i`` runs model
``i mod M``), each living ``rounds`` times: create -> bound and Ready -> delete (its
provider goes to sleep) -> later the next incarnation (a new pod name) -> hot start from
that sleeper. At most ``window`` requesters are alive at once (default: every GPU busy),
and a GPU slot holds one requester at a time, so at 1000 identities over 800 GPUs some
slots are shared, and a sleeper of one model may be evicted by another's (sleeper limit
1 per GPU): those starts are cold again. Cost per binding = wall time / bindings, and
CPU seconds / bindings of the controller, the API server and this process.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from fma.bench._churnrig import NS, Rig

GOAL_RATIO = 1.2


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sizes", default="100,1000", help="requester counts, comma-separated (default 100,1000)")
    p.add_argument("--nodes", type=int, default=100, help="nodes (default 100)")
    p.add_argument("--gpus-per-node", type=int, default=8, help="GPUs per node (default 8)")
    p.add_argument("--models", type=int, default=4, help="distinct model specs (default 4)")
    p.add_argument("--rounds", type=int, default=2, help="incarnations of each requester (default 2: cold, then hot)")
    p.add_argument("--window", type=int, default=0, help="requesters alive at once (default 0: one per GPU)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds allowed per size (default 600)")
    p.add_argument("--quick", action="store_true", help="one round per requester (cold starts only): faster")
    p.add_argument("--profile-controller", default=None, metavar="FILE",
                   help="cProfile every controller thread; pstats of the last size go to FILE")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def patch_for(model: str) -> str:
    return (f"spec:\n  containers:\n  - name: inference-server\n    image: vllm/vllm-openai\n"
            f"    args: [\"--model\", \"{model}\", \"--port\", \"8000\"]\n    ports: [{{containerPort: 8000}}]\n")


def requester_pod(name: str, node: str, gpu: str, model: str) -> dict[str, Any]:
    from fma.controllers.dualpods import names as N

    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NS, "labels": {"app": "churn", "model": model.split("/")[-1]},
                         "annotations": {N.ANN_SERVER_PATCH: patch_for(model), "local.fma.llm-d.ai/gpus": gpu}},
            "spec": {"nodeName": node, "containers": [{
                "name": "inference-server", "image": "fma-requester", "command": ["fma", "requester"],
                "ports": [{"containerPort": 8080}, {"containerPort": 8081}],
                "resources": {"limits": {"nvidia.com/gpu": "1"}}}]}}


@dataclass
class Life:
    identity: int
    round: int
    name: str
    created: float = 0.0
    ready: float = 0.0
    kind: str = ""


@dataclass
class Driver:
    """Feeds requester lives into the rig, one per GPU slot at a time, ``window`` at once."""

    rig: Rig
    slots: list[tuple[str, str]]  # (node, gpu uuid)
    identities: int
    models: int
    rounds: int
    window: int
    queues: dict[int, deque[Life]] = field(default_factory=dict)
    lives: dict[str, Life] = field(default_factory=dict)
    waiting: deque[int] = field(default_factory=deque)
    alive: int = 0
    done: list[Life] = field(default_factory=list)
    finished: threading.Event = field(default_factory=threading.Event)
    last_progress: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        for r in range(self.rounds):
            for i in range(self.identities):
                s = i % len(self.slots)
                self.queues.setdefault(s, deque()).append(Life(i, r, f"churn-{i:04d}-{r}"))
        self.total = self.identities * self.rounds
        self.waiting.extend(sorted(self.queues))

    def start(self) -> None:
        self.last_progress = time.monotonic()
        with self.lock:
            self._pump()

    def _pump(self) -> None:
        while self.waiting and self.alive < self.window:
            s = self.waiting.popleft()
            life = self.queues[s].popleft()
            node, gpu = self.slots[s]
            model = f"churn/model-{life.identity % self.models}"
            life.created = time.monotonic()
            self.lives[life.name] = life
            self.alive += 1
            body = requester_pod(life.name, node, gpu, model)
            self.rig.submit(f"create requester {life.name}", lambda k, b=body: k.create_pod(NS, b))

    def on_pod(self, typ: str, pod: dict[str, Any]) -> None:
        from fma.controllers.dualpods import names as N
        from fma.controllers.dualpods import pods as P

        life = self.lives.get(P.name(pod))
        if life is None:
            return
        with self.lock:
            if typ == "DELETED":
                self.lives.pop(life.name)
                self.alive -= 1
                self.done.append(life)
                self.last_progress = time.monotonic()
                s = life.identity % len(self.slots)
                if self.queues[s]:
                    self.waiting.append(s)
                if len(self.done) == self.total:
                    self.finished.set()
                self._pump()
            elif not life.ready and P.ready(pod) and not P.deleting(pod):
                life.ready = time.monotonic()
                self.last_progress = life.ready
                prov = P.labels(pod).get(N.LBL_DUAL, "")
                seen = self.rig.first_seen.get(prov)
                life.kind = "hot" if seen is not None and seen < life.created else "cold"
                self.rig.submit(f"delete requester {life.name}", lambda k, n=life.name: k.delete_pod(NS, n))


def run_size(n: int, args: argparse.Namespace) -> dict[str, Any]:
    """One churn run of ``n`` requester identities on a fresh rig; figures as a dict."""
    rounds = 1 if getattr(args, "quick", False) else args.rounds
    rig = Rig(args.nodes, args.gpus_per_node, profile_controller=getattr(args, "profile_controller", None))
    gpus = args.nodes * args.gpus_per_node
    # GPU slot s: node s mod nodes, its GPU s div nodes (identities spread over nodes first)
    slots = [(rig.nodes[s % args.nodes], rig.gpus[rig.nodes[s % args.nodes]][s // args.nodes]) for s in range(gpus)]
    window = min(args.window or gpus, n)
    drv = Driver(rig, slots, n, args.models, rounds, window)
    rig.on_pod = drv.on_pod
    out: dict[str, Any] = {"requesters": n, "rounds": rounds, "window": window}
    rig.start()
    try:
        _warm_up(rig, slots[-1], args.timeout)
        cpu0, t0 = rig.cpu(), time.monotonic()
        drv.start()
        while not drv.finished.wait(0.5):
            stall = args.timeout if getattr(args, "profile_controller", None) else min(60.0, args.timeout)
            if time.monotonic() - drv.last_progress > stall or time.monotonic() - t0 > args.timeout:
                break
        wall = time.monotonic() - t0
        cpu1 = rig.cpu()
        out["errors"] = rig.errors[:10]
    finally:
        rig.close(keep=not drv.finished.is_set())
    if not drv.finished.is_set():
        out["errors"].append(f"stalled: {len(drv.done)} of {drv.total} requester lives done; logs in {rig.dir}")
    lives = drv.done
    bound = [x for x in lives if x.ready]
    b = max(len(bound), 1)
    ttr = sorted(x.ready - x.created for x in bound)
    out.update({
        "bindings": len(bound), "expected": drv.total, "complete": len(bound) == drv.total and drv.finished.is_set(),
        "hot": sum(x.kind == "hot" for x in bound), "cold": sum(x.kind == "cold" for x in bound),
        "wall_s": round(wall, 2), "wall_ms_per_binding": round(wall / b * 1000, 2),
        "cpu_ms_per_binding": {k: round((cpu1[k] - cpu0[k]) / b * 1000, 2) for k in cpu0},
        "ready_ms_p50": round(statistics.median(ttr) * 1000, 1) if ttr else None,
        "ready_ms_p99": round(ttr[min(len(ttr) - 1, int(len(ttr) * 0.99))] * 1000, 1) if ttr else None,
    })
    return out


def _warm_up(rig: Rig, slot: tuple[str, str], timeout: float) -> None:
    """One requester through the whole path, so the controller has listed and is idle."""
    from fma.controllers.dualpods import pods as P

    done = threading.Event()
    name = "churn-warmup"

    def watch(typ: str, pod: dict[str, Any]) -> None:
        if P.name(pod) == name and typ != "DELETED" and P.ready(pod) and not P.deleting(pod):
            rig.submit("delete warm-up", lambda k: k.delete_pod(NS, name))
        if P.name(pod) == name and typ == "DELETED":
            done.set()

    real = rig.on_pod
    rig.on_pod = lambda typ, pod: (watch(typ, pod), real(typ, pod))
    rig.kube().create_pod(NS, requester_pod(name, slot[0], slot[1], "churn/warmup"))
    if not done.wait(timeout):
        raise RuntimeError(f"warm-up requester {name} was not bound and released in {timeout:.0f}s "
                           f"(controller log: {rig.dir}/controller.log)")
    rig.on_pod = real


def figures(args: argparse.Namespace) -> dict[str, Any]:
    sizes = [int(s) for s in str(args.sizes).split(",") if s.strip()]
    runs = [run_size(n, args) for n in sizes]
    out: dict[str, Any] = {"bench": "churn", "nodes": args.nodes, "gpus_per_node": args.gpus_per_node,
                           "models": args.models, "runs": runs}
    if len(runs) >= 2 and runs[0]["bindings"] and runs[-1]["bindings"]:
        a, z = runs[0], runs[-1]
        out["ratio_wall_per_binding"] = round(z["wall_ms_per_binding"] / a["wall_ms_per_binding"], 2)
        ca, cz = a["cpu_ms_per_binding"]["controller"], z["cpu_ms_per_binding"]["controller"]
        out["ratio_controller_cpu_per_binding"] = round(cz / ca, 2) if ca else None
        out["goal_ratio"] = GOAL_RATIO
    return out


def run(args: argparse.Namespace) -> int:
    import logging

    logging.getLogger("fma").setLevel(logging.WARNING)
    out = figures(args)
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"fma bench churn — {args.nodes} nodes x {args.gpus_per_node} GPUs, {args.models} model specs; "
          f"live `fma controller` + `fma apiserver` over HTTP, stub pods in-process")
    hdr = (f"{'requesters':>10} {'bindings':>9} {'hot':>5} {'cold':>5} {'wall s':>7} {'wall ms/b':>10} "
           f"{'ctl cpu ms/b':>13} {'api cpu ms/b':>13} {'rig cpu ms/b':>13} {'ready p50/p99 ms':>17}")
    print(hdr)
    for r in out["runs"]:
        c = r["cpu_ms_per_binding"]
        print(f"{r['requesters']:>10} {r['bindings']:>4}/{r['expected']:<4} {r['hot']:>5} {r['cold']:>5} "
              f"{r['wall_s']:>7.1f} {r['wall_ms_per_binding']:>10.2f} {c.get('controller', 0):>13.2f} "
              f"{c.get('apiserver', 0):>13.2f} {c.get('bench', 0):>13.2f} "
              f"{r['ready_ms_p50']!s:>8}/{r['ready_ms_p99']!s:<8}")
        for e in r["errors"][:3]:
            print(f"    error: {e}")
    if "ratio_wall_per_binding" in out:
        z, a = out["runs"][-1]["requesters"], out["runs"][0]["requesters"]
        print(f"cost per binding at {z} / at {a}: wall {out['ratio_wall_per_binding']}x, controller CPU "
              f"{out['ratio_controller_cpu_per_binding']}x   (goal <= {GOAL_RATIO}x)")
    return 0
