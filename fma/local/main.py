"""``fma local`` end to end: start the cluster, run the scenario, report, stop everything."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import sys
import threading
import time
from typing import Any

log = logging.getLogger("fma.local")


class _Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C so the same clean-up runs."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise _Terminated()


def _quiet_logs(verbose: bool, console: Any | None) -> None:
    level = logging.INFO if verbose else logging.WARNING
    for name in ("fma.local", "kubernetes", "urllib3", "fma.kube"):
        logging.getLogger(name).setLevel(level)
    if console is not None:
        from rich.logging import RichHandler

        root = logging.getLogger()
        for h in list(root.handlers):
            root.removeHandler(h)
        root.addHandler(RichHandler(console=console, show_path=False))


def run(args: argparse.Namespace) -> int:
    from fma.local.cluster import ClusterOptions, LocalCluster
    from fma.local.scenario import ScenarioError, load

    scenario = None
    if args.scenario or not args.serve:
        try:
            scenario = load(args.scenario or "demo")
        except ScenarioError as exc:
            print(f"fma local: {exc}", file=sys.stderr)
            return 2
    live = sys.stdout.isatty() and not args.json
    console = None
    if live:
        from rich.console import Console

        console = Console()
    _quiet_logs(args.verbose, console)
    opts = ClusterOptions(
        nodes=args.nodes or (scenario.nodes if scenario and scenario.nodes else 2),
        gpus_per_node=args.gpus_per_node or (scenario.gpus_per_node if scenario and scenario.gpus_per_node else 4),
        gpu_memory=args.gpu_memory, state_dir=args.state_dir, controller=not args.no_controller,
        populator=not args.no_controller,
    )
    old = signal.signal(signal.SIGTERM, _on_sigterm) if threading.current_thread() is threading.main_thread() else None
    code = 0
    cluster = LocalCluster(opts)
    try:
        with cluster:
            if args.kubeconfig_out:
                shutil.copyfile(cluster.kubeconfig, args.kubeconfig_out)
            if not args.json:
                print(f"fma local: API server {cluster.url}; {opts.nodes} node(s) x {opts.gpus_per_node} mock GPU(s); "
                      f"kubeconfig {args.kubeconfig_out or cluster.kubeconfig}; logs {cluster.dir}", file=sys.stderr)
            if scenario is not None:
                code = _run_scenario(cluster, scenario, args, console)
            if args.serve:
                print("fma local: serving; Ctrl-C to stop", file=sys.stderr, flush=True)
                while True:
                    time.sleep(3600)
    except KeyboardInterrupt:
        print("fma local: interrupted; stopping every process", file=sys.stderr)
        code = 130 if not args.serve else 0
    except Exception as exc:  # noqa: BLE001 - one clear line; the context manager has cleaned up
        print(f"fma local: {type(exc).__name__}: {exc} (logs in {cluster.dir})", file=sys.stderr)
        code = 1
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)
    return code


def _gpu_rows(cluster: Any) -> list[tuple[str, int, str, int, int]]:
    from fma.local.gpumem import cluster_usage

    try:
        return cluster_usage({n: (rt.dir, rt.gpu_uuids) for n, rt in cluster.nodes.items()}, cluster.opts.gpu_memory)
    except Exception as exc:  # noqa: BLE001 - the view goes on without the GPU table
        log.debug("GPU usage: %s", exc)
        return []


def _timeline(cluster: Any, runner: Any, result: Any, path: str) -> str | None:
    """Draw the run's timeline to ``path``; on failure say why (the run itself stands)."""
    from fma.local.timeline import draw

    rows = [(n, u) for n in sorted(cluster.nodes) for u in cluster.nodes[n].gpu_uuids]
    with runner.obs.cond:
        spans = runner.obs.timeline.spans(result.finished)
    try:
        return draw(spans, path, t0=result.started, rows=rows,
                    title=f"fma local — scenario {result.scenario} ({result.engine}): servers per GPU")
    except Exception as exc:  # noqa: BLE001
        print(f"fma local: could not draw the timeline {path}: {exc}", file=sys.stderr)
        return None


def _run_scenario(cluster: Any, scenario: Any, args: argparse.Namespace, console: Any | None) -> int:
    from fma.local import report
    from fma.local.runner import ScenarioRunner
    from fma.local.view import plain_note, render_live

    note = None if (console is not None or args.json) else plain_note
    runner = ScenarioRunner(cluster, scenario, engine=args.engine, time_scale=args.time_scale, on_note=note)
    if note is not None:
        note(f"scenario {scenario.name}: {scenario.description}")
    if console is not None:
        from rich.live import Live

        started = time.monotonic()
        title = f"fma local — {scenario.name} ({args.engine})"

        def view() -> Any:
            return render_live(runner.obs, title, started, gpus=_gpu_rows(cluster))
        with Live(view(), console=console, refresh_per_second=4, transient=False) as lv:
            done = threading.Event()

            def refresh() -> None:
                while not done.wait(0.25):
                    lv.update(view())
            t = threading.Thread(target=refresh, daemon=True)
            t.start()
            try:
                result = runner.run()
            finally:
                done.set()
                t.join()
                lv.update(view())
    else:
        result = runner.run()
    extra: dict[str, Any] = {"cluster": {"nodes": cluster.opts.nodes, "gpus_per_node": cluster.opts.gpus_per_node,
                                         "gpu_memory": cluster.opts.gpu_memory},
                             "time_scale": runner.time_scale, "state_dir": cluster.dir}
    if getattr(args, "timeline", None):
        extra["timeline"] = _timeline(cluster, runner, result, args.timeline)
    summ = report.summary(result, extra)
    if args.json:
        print(json.dumps(summ), flush=True)
    else:
        from rich.console import Console

        # piped (CI logs, `| tee`): rich would assume 80 columns and fold pod names
        report.render(summ, console or Console(file=sys.stdout, width=None if os.environ.get("COLUMNS") else 120))
    if result.errors:
        return 1
    if args.strict and result.mismatches:
        return 1
    return 0
