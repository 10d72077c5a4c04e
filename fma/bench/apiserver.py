"""API server emulator: pod creates/s through the official client, and watch fan-out latency with N watchers."""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pods", type=int, default=2000, help="pods to create (default 2000)")
    parser.add_argument("--watchers", type=int, default=10, help="concurrent pod watchers (default 10)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent creating threads (default 4)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Every figure as a dict (creates/s, fan-out latency, list times)."""
    from fma.kube import Rest
    from fma.kube.emulator import Emulator

    emu = Emulator(port=0, crd_dir=None, history=max(10000, args.pods * 2)).start()
    try:
        api = emu.api_client()
        rest = Rest(api)
        created: dict[str, float] = {}
        lat: list[list[float]] = [[] for _ in range(args.watchers)]
        ready = threading.Barrier(args.watchers + 1)
        rv0 = rest.list("pods", "default")["metadata"]["resourceVersion"]

        def watcher(i: int) -> None:
            wapi = emu.api_client()
            resp = Rest(wapi).call("GET", "/api/v1/namespaces/default/pods", stream=True,
                                   query={"watch": "true", "resourceVersion": rv0, "timeoutSeconds": "600"},
                                   timeout=(5, 600))
            ready.wait()
            buf, n = b"", 0
            for chunk in resp.stream(65536, decode_content=False):
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    ev = json.loads(line)
                    name = ev["object"]["metadata"]["name"]
                    t0 = created.get(name)
                    if t0 is not None:
                        lat[i].append(time.perf_counter() - t0)
                    n += 1
                    if n >= args.pods:
                        resp.release_conn()
                        wapi.close()
                        return

        threads = [threading.Thread(target=watcher, args=(i,), daemon=True) for i in range(args.watchers)]
        for t in threads:
            t.start()
        ready.wait()

        def make(i: int) -> None:
            name = f"bench-{i}"
            created[name] = time.perf_counter()
            rest.create("pods", "default", {"metadata": {"name": name, "labels": {"bench": "1"}},
                                            "spec": {"containers": [{"name": "c", "image": "pause"}]}})

        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            list(pool.map(make, range(args.pods)))
        create_s = time.perf_counter() - t0
        for t in threads:
            t.join(timeout=120)
        t1 = time.perf_counter()
        n_listed = len(rest.list("pods", "default")["items"])
        list_s = time.perf_counter() - t1
        t2 = time.perf_counter()
        sel = len(rest.list("pods", "default", label_selector="bench=1", field_selector="metadata.name=bench-7")["items"])
        sel_s = time.perf_counter() - t2
        all_lat = sorted(x for per in lat for x in per)
        delivered = len(all_lat)
        figs = {
            "pods": args.pods, "watchers": args.watchers, "clients": args.clients,
            "creates_per_s": round(args.pods / create_s, 1),
            "fanout_events_delivered": delivered, "fanout_expected": args.pods * args.watchers,
            "fanout_latency_ms_p50": round(statistics.median(all_lat) * 1e3, 2) if all_lat else None,
            "fanout_latency_ms_p99": round(all_lat[int(len(all_lat) * 0.99) - 1] * 1e3, 2) if all_lat else None,
            "fanout_latency_ms_max": round(all_lat[-1] * 1e3, 2) if all_lat else None,
            "list_all_ms": round(list_s * 1e3, 1), "listed": n_listed,
            "list_with_selectors_ms": round(sel_s * 1e3, 1), "selected": sel,
        }
        api.close()
    finally:
        emu.stop()
    return figs


def quick() -> dict[str, Any]:
    """The figures of ``fma bench all``: 10 000 pods (the README's size), 10 watchers."""
    p = argparse.ArgumentParser()
    add_arguments(p)
    return measure(p.parse_args(["--pods", "10000"]))


def run(args: argparse.Namespace) -> int:
    figs = measure(args)
    delivered, n_listed = figs["fanout_events_delivered"], figs["listed"]
    if args.json:
        print(json.dumps(figs))
    else:
        print(f"emulator, {args.pods} pods, {args.clients} creating clients, {args.watchers} watchers (2 shared cores)")
        print(f"  creates/s                         {figs['creates_per_s']:>10}")
        print(f"  watch events delivered            {delivered:>10} / {args.pods * args.watchers}")
        print(f"  fan-out latency p50 / p99 / max   {figs['fanout_latency_ms_p50']} / "
              f"{figs['fanout_latency_ms_p99']} / {figs['fanout_latency_ms_max']} ms")
        print(f"  list {n_listed} pods                   {figs['list_all_ms']:>10} ms")
        print(f"  list with label+field selector    {figs['list_with_selectors_ms']:>10} ms")
    return 0
