"""Transport: ask round trip (ipc vs tcp, ours vs bare ZeroMQ), one-way tells/s, transition-to-subscriber latency."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable

TARGET_ASK_P50_US = 150.0
TARGET_TELLS_PER_S = 30_000
TARGET_TAIL_P99_MS = 10.0
CYCLE = ("sleep", "slept", "wake", "woke")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--asks", type=int, default=5000, help="round trips per variant (default 5000)")
    parser.add_argument("--tells", type=int, default=50_000, help="one-way messages (default 50000)")
    parser.add_argument("--transitions", type=int, default=2000, help="transitions watched by subscribers (default 2000)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")


# --- the serving process ------------------------------------------------------------------
def _serve(tmp: str) -> None:  # pragma: no cover - runs in the child process
    from fma.actors import LifecycleActor
    from fma.events import MemoryLog
    from fma.statemachines import InstanceLifecycle
    from fma.transport import Host
    from fma.transport.baseline import start_echo

    class Bench(LifecycleActor):
        lifecycle = InstanceLifecycle
        hits = 0

        def handle(self, type: str, body: Any) -> Any:
            if type == "hit":
                self.hits += 1
                return None
            if type == "hits":
                return self.hits
            if type == "echo":
                return body
            return super().handle(type, body)

    log = MemoryLog()
    hosts = {"ipc": Host(log, f"ipc://{tmp}/bench.sock", debug_socket=f"ipc://{tmp}/debug.sock", name="bench-ipc"),
             "tcp": Host(log, "tcp://127.0.0.1:0", name="bench-tcp")}
    for kind, host in hosts.items():
        host.spawn(Bench, f"bench/{kind}")
        host.serve()
    raw = {kind: start_echo(addr) for kind, addr in (("ipc", f"ipc://{tmp}/raw.sock"), ("tcp", "tcp://127.0.0.1:*"))}
    print(json.dumps({"ipc": hosts["ipc"].address, "tcp": hosts["tcp"].address, "debug": hosts["ipc"].debug_address,
                      "raw_ipc": raw["ipc"], "raw_tcp": raw["tcp"]}), flush=True)
    sys.stdin.read()
    for host in hosts.values():
        host.stop()
    os._exit(0)


# --- measuring ----------------------------------------------------------------------------
def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


def _rtt(fn: Callable[[], Any], n: int) -> list[float]:
    for _ in range(min(200, n)):
        fn()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1e6)
    return out


def _raw_rtt(addr: str, n: int) -> list[float]:
    from fma.transport.baseline import echo_round_trips

    return echo_round_trips(addr, n)


def measure(args: argparse.Namespace) -> dict[str, float]:
    """Every figure (µs, ms, per second) as a dict."""
    from fma.transport import DebugClient, connect

    tmp = tempfile.mkdtemp(prefix="fma-bench-transport-")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    child = subprocess.Popen([sys.executable, "-c", f"from fma.bench.transport import _serve; _serve({tmp!r})"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert child.stdout is not None
        addrs = json.loads(child.stdout.readline())
        fig: dict[str, Any] = {}
        peers = {k: connect(addrs[k]) for k in ("ipc", "tcp")}
        for kind, peer in peers.items():
            peer.wait_up(5)
            ref = peer.ref(f"bench/{kind}")
            lat = _rtt(lambda: ref.ask("echo", 1), args.asks)
            raw = _raw_rtt(addrs[f"raw_{kind}"], args.asks)
            fig[f"ask_{kind}_p50_us"], fig[f"ask_{kind}_p99_us"] = _pct(lat, 50), _pct(lat, 99)
            fig[f"raw_{kind}_p50_us"], fig[f"raw_{kind}_p99_us"] = _pct(raw, 50), _pct(raw, 99)
        for kind, peer in peers.items():
            ref = peer.ref(f"bench/{kind}")
            base = ref.ask("hits")
            t0 = time.perf_counter()
            for _ in range(args.tells):
                ref.tell("hit")
            while ref.ask("hits", timeout=30) < base + args.tells:
                time.sleep(0.001)
            fig[f"tells_{kind}_per_s"] = args.tells / (time.perf_counter() - t0)
        # transition -> subscriber: the debug socket's tail and the PUB event stream
        ref = peers["ipc"].ref("bench/ipc")
        stream = peers["ipc"].subscribe(prefix="bench/ipc")
        tail_lat: list[float] = []
        pub_lat: list[float] = []
        with DebugClient(addrs["debug"]) as dbg:
            tail = dbg.tail(prefix="bench/ipc")
            ref.ask("start")
            ref.ask("ready")
            for _ in range(2):
                next(tail), stream.get(5)
            for i in range(args.transitions):
                ref.tell(CYCLE[i % 4])
                rec = next(tail)
                tail_lat.append((time.time() - rec.ts) * 1000)
                rec2 = stream.get(5)
                pub_lat.append((time.time() - rec2.ts) * 1000)
        stream.close()
        fig["tail_p50_ms"], fig["tail_p99_ms"] = _pct(tail_lat, 50), _pct(tail_lat, 99)
        fig["stream_p50_ms"], fig["stream_p99_ms"] = _pct(pub_lat, 50), _pct(pub_lat, 99)
        for peer in peers.values():
            peer.close()
    finally:
        if child.stdin:
            child.stdin.close()
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
    return fig


def quick() -> dict[str, float]:
    """The figures of ``fma bench all``: 2000 asks, 20 000 tells, 500 transitions."""
    p = argparse.ArgumentParser()
    add_arguments(p)
    return measure(p.parse_args(["--asks", "2000", "--tells", "20000", "--transitions", "500"]))


def run(args: argparse.Namespace) -> int:
    fig = measure(args)
    if args.json:
        print(json.dumps({k: round(v, 1) for k, v in fig.items()}))
        return 0
    print("fma bench transport  (ask = RemoteRef.ask to an actor in another process; raw = bare ZeroMQ DEALER/ROUTER echo)")
    print(f"{'':24}{'ipc':>12}{'tcp':>12}{'tcp/ipc':>9}   target")
    for name, key in (("ask p50 µs", "ask_{}_p50_us"), ("ask p99 µs", "ask_{}_p99_us"),
                      ("raw zmq p50 µs", "raw_{}_p50_us"), ("raw zmq p99 µs", "raw_{}_p99_us"),
                      ("tells/s (one-way)", "tells_{}_per_s")):
        a, b = fig[key.format("ipc")], fig[key.format("tcp")]
        target = {"ask p50 µs": f"<= {TARGET_ASK_P50_US:.0f}", "tells/s (one-way)": f">= {TARGET_TELLS_PER_S}"}.get(name, "")
        print(f"{name:24}{a:12.0f}{b:12.0f}{b / a:9.2f}   {target}")
    print(f"ask overhead over bare zmq (p50): ipc {fig['ask_ipc_p50_us'] / fig['raw_ipc_p50_us']:.1f}x, "
          f"tcp {fig['ask_tcp_p50_us'] / fig['raw_tcp_p50_us']:.1f}x")
    print(f"transition -> debug tail  p50 {fig['tail_p50_ms']:.2f} ms  p99 {fig['tail_p99_ms']:.2f} ms   target p99 <= {TARGET_TAIL_P99_MS:.0f} ms")
    print(f"transition -> PUB stream  p50 {fig['stream_p50_ms']:.2f} ms  p99 {fig['stream_p99_ms']:.2f} ms")
    return 0
