"""``fma populator``: the launcher populator (BEHAVIOUR.md §6)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "populator", help="run the launcher populator (keeps launcher pods on each node)",
        description="Keeps, on each node, the launcher pods that LauncherPopulationPolicies ask for: per "
        "(node, LauncherConfig) the maximum launcherCount over the policies whose label selector and "
        "allocatable-resource ranges match the node, and at least the launchers bound to requesters. "
        "Creates missing launchers from the LauncherConfig's pod template, deletes surplus ones "
        "(outdated templates first, never a bound one), and labels launchers that stay unscheduled or "
        "not Ready too long with launcher-stuck=true plus a LauncherStuck Event. Decisions stream on the "
        "debug socket as events of the launcher-pair lifecycle.")
    p.add_argument("--namespace", default="default", help="namespace to manage (default: default)")
    p.add_argument("--kubeconfig", default=None,
                   help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster)")
    p.add_argument("--stuck-scheduling-threshold", default="2m",
                   help="a launcher unscheduled this long is stuck (Go duration; default 2m)")
    p.add_argument("--stuck-starting-threshold", default="7m30s",
                   help="a scheduled launcher not Ready this long is stuck (default 7m30s)")
    p.add_argument("--expectation-timeout", default="60s",
                   help="how long a create or delete waits to show up in the watch before it is no "
                   "longer assumed (default 60s)")
    p.add_argument("--metrics-port", type=int, default=8002, help="Prometheus /metrics port (default 8002; 0 off)")
    p.add_argument("--debug-socket", default=None, help="debug socket address, ipc://PATH or tcp://127.0.0.1:PORT")
    p.add_argument("--event-log", default=None, help="append the pairs' decisions to this event-log file")
    p.add_argument("--leader-elect", action="store_true",
                   help="act only while holding the Lease fma-launcher-populator in --namespace; a replica "
                   "that loses it exits with status 1 (its Deployment restarts it as a follower)")
    p.add_argument("--log-level", default=argparse.SUPPRESS,
                   help="DEBUG, INFO, WARNING or ERROR (same as the global option)")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    import logging
    import signal
    import sys
    import threading

    from fma.controllers.populator.controller import Populator
    from fma.controllers.populator.metrics import PopulatorMetrics
    from fma.controllers.populator.stuck import Thresholds, parse_duration
    from fma.events import FileLog, MemoryLog

    log = logging.getLogger("fma.populator")
    try:
        th = Thresholds(parse_duration(args.stuck_scheduling_threshold), parse_duration(args.stuck_starting_threshold))
        ttl = parse_duration(args.expectation_timeout)
    except ValueError as exc:
        print(f"fma populator: {exc}", file=sys.stderr)
        return 2
    from fma.kube import Rest, load_client
    from fma.kube.populator_port import ClientPopulatorPort

    api = load_client(args.kubeconfig)
    event_log = FileLog(args.event_log) if args.event_log else MemoryLog()
    metrics = PopulatorMetrics()
    if args.metrics_port:
        from prometheus_client import start_http_server

        try:
            start_http_server(args.metrics_port, registry=metrics.registry)
        except OSError as exc:  # a taken port must not stop the launchers from being kept
            log.error("populator: /metrics on port %d not served: %s", args.metrics_port, exc)
    debug = None
    if args.debug_socket:
        try:
            from fma.transport import serve_debug_socket  # type: ignore[attr-defined]

            debug = serve_debug_socket(args.debug_socket, event_log)
        except ImportError as exc:
            log.warning("populator: debug socket %s not started: %s", args.debug_socket, exc)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    current: dict[str, Populator] = {}

    def lead() -> None:
        pop = Populator(ClientPopulatorPort(api, args.namespace), thresholds=th, expectation_ttl=ttl,
                        event_log=event_log, metrics=metrics)
        current["pop"] = pop
        pop.start()
        log.info("populator: managing launchers in namespace %s (stuck after %ss unscheduled / %ss not Ready)",
                 args.namespace, th.scheduling, th.starting)

    def step_down() -> None:
        pop = current.pop("pop", None)
        if pop is not None:
            pop.stop()
            log.info("populator: stopped")

    from fma.kube import run_leading

    status = run_leading(Rest(api) if args.leader_elect else None, args.namespace, "fma-launcher-populator",
                         lead=lead, step_down=step_down, done=done, what="launcher populator")
    if debug is not None:
        debug.stop()
    event_log.close()
    return status
