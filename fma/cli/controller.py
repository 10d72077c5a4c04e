"""``fma controller``: the dual-pods controller (BEHAVIOUR.md §2, §3)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fma.controllers.dualpods.world import Config

SLEEPER_MIB = 4096  # FMA's allowance of GPU memory per sleeper for --debug-accelerator-memory


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "controller", help="run the dual-pods controller (binds requesters to providers)",
        description="Watches server-requesting Pods (annotation dual-pods.llm-d.ai/server-patch or "
        "inference-server-config) in one namespace and binds each to a server-providing Pod: a sleeping "
        "provider of the same nominal spec (hot), a launcher with room (warm), or a new one (cold). "
        "Puts providers to sleep when their requester goes, caps sleepers per GPU (LRU) and by host "
        "memory, and deletes a requester whose provider was lost. Decisions stream on the debug socket.")
    p.add_argument("--namespace", default="default", help="namespace to manage (default: default)")
    p.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config, "
                   "or in-cluster)")
    p.add_argument("--sleeper-limit", type=int, default=1,
                   help="sleepers allowed per GPU, direct providers and launcher instances alike; past it "
                   "the least recently used goes (default 1)")
    p.add_argument("--host-memory-budget", default=None,
                   help="bytes of sleepers allowed per node, e.g. 200GB (beyond FMA; default: no budget)")
    p.add_argument("--local-volume", default="", help="value of {{ .LocalVolume }} in server patches "
                   "(default fma-local-<node>)")
    p.add_argument("--launcher-port", type=int, default=8001, help="launchers' REST port (default 8001)")
    p.add_argument("--debug-socket", default=None, help="debug socket address, ipc://PATH or tcp://127.0.0.1:PORT")
    p.add_argument("--event-log", default=None, help="append decisions and bindings to this event-log file")
    p.add_argument("--metrics-port", type=int, default=8002, help="Prometheus /metrics port (default 8002; 0 off)")
    p.add_argument("--workers", type=int, default=4, help="nodes reconciled in parallel (default 4)")
    p.add_argument("--leader-elect", action="store_true",
                   help="reconcile only while holding the Lease fma-dual-pods-controller in --namespace; "
                   "a replica that loses it exits (its Deployment restarts it as a follower)")
    p.add_argument("--debug-accelerator-memory", action="store_true",
                   help="before waking a sleeping provider, ask the requester stub for its GPUs' used memory "
                   "(SPI accelerator-memory-usage) and wait (retrying) while any GPU holds more than "
                   "--sleeper-limit x 4096 MiB, the most its sleepers should hold (as FMA; default off)")
    p.add_argument("--log-level", default=argparse.SUPPRESS,
                   help="DEBUG, INFO, WARNING or ERROR (same as the global option)")
    p.set_defaults(handler=_run)


def _bytes(text: str | None) -> int | None:
    if text is None:
        return None
    t = text.strip().upper().rstrip("B")
    mult = 1
    for suffix, m in (("KI", 1024), ("MI", 1024**2), ("GI", 1024**3), ("TI", 1024**4),
                      ("K", 10**3), ("M", 10**6), ("G", 10**9), ("T", 10**12)):
        if t.endswith(suffix):
            t, mult = t[: -len(suffix)], m
            break
    return int(float(t) * mult)


def config_from_args(args: argparse.Namespace, budget: int | None = None) -> "Config":
    from fma.controllers.dualpods.world import Config

    limit = args.sleeper_limit * SLEEPER_MIB if args.debug_accelerator_memory else None
    return Config(sleeper_limit=args.sleeper_limit, host_memory_budget=budget, local_volume=args.local_volume,
                  launcher_port=args.launcher_port, accelerator_memory_limit_mib=limit)


def _run(args: argparse.Namespace) -> int:
    import logging
    import signal
    import sys
    import threading

    from fma.controllers.dualpods.controller import DualPodsController
    from fma.controllers.dualpods.journal import Journal
    from fma.controllers.dualpods.metrics import Metrics
    log = logging.getLogger("fma.controller")
    try:
        budget = _bytes(args.host_memory_budget)
    except ValueError:
        print(f"fma controller: --host-memory-budget {args.host_memory_budget!r} is not a byte count",
              file=sys.stderr)
        return 2
    from fma.kube.dualpods_port import ClientKubePort, load_api_client

    try:
        api_client = load_api_client(args.kubeconfig)
        port = ClientKubePort(api_client, args.namespace)
    except Exception as exc:
        print(f"fma controller: no Kubernetes configuration: {exc}", file=sys.stderr)
        return 2
    if args.event_log:
        from fma.events import FileLog
        journal = Journal(FileLog(args.event_log))
    else:
        journal = Journal()
    debug = None
    if args.debug_socket:
        try:
            from fma.transport import serve_debug_socket
            debug = serve_debug_socket(args.debug_socket, journal.log)
        except ImportError as exc:
            log.warning("debug socket unavailable (%s)", exc)
    metrics = Metrics()
    if args.metrics_port:
        try:
            metrics.serve(args.metrics_port)
        except OSError as exc:  # a taken port must not stop the bindings
            log.error("dual-pods controller: /metrics on port %d not served: %s", args.metrics_port, exc)
    cfg = config_from_args(args, budget)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    running: dict[str, DualPodsController] = {}

    def lead() -> None:
        running["ctl"] = DualPodsController(port, cfg, journal, workers=args.workers, metrics=metrics).start()

    def step_down() -> None:
        ctl = running.pop("ctl", None)
        if ctl is not None:
            ctl.stop()

    from fma.kube import Rest, run_leading

    status = run_leading(Rest(api_client) if args.leader_elect else None, args.namespace,
                         "fma-dual-pods-controller", lead=lead, step_down=step_down, done=done,
                         what="dual-pods controller")
    port.stop()
    if debug is not None:
        debug.stop()
    return status
