"""Wiring of ``fma launcher``: GPUs, fork server, node actor, REST, ZMQ, pod notifier."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class Launcher:
    """A running launcher (all parts); :meth:`close` stops them (instances keep running)."""

    node: Any
    spawner: Any
    app: Any
    metrics: Any
    server: Any = None
    server_thread: threading.Thread | None = None
    extras: list[Any] = field(default_factory=list)

    @property
    def port(self) -> int:
        if self.server is None or not self.server.servers:
            return 0
        return self.server.servers[0].sockets[0].getsockname()[1]

    def close(self, stop_instances: bool = False) -> None:
        if self.server is not None:
            self.server.should_exit = True
            self.node.watch.wake_all()
            if self.server_thread is not None:
                self.server_thread.join(timeout=10)
        for extra in reversed(self.extras):
            try:
                extra.close()
            except Exception:
                log.exception("closing %r failed", extra)
        self.node.close(stop_instances=stop_instances)
        self.spawner.close()


def make_engine(kind: str, args: argparse.Namespace, state_dir: Path) -> Any:
    from fma.engines import get_engine

    if kind == "sim":
        return get_engine("sim", time_scale=args.sim_time_scale, gpu_memory_bytes=args.mock_gpu_memory,
                          ledger_dir=state_dir / "gpu-ledger")
    return get_engine("vllm")


def build(args: argparse.Namespace) -> Launcher:
    """Everything but the HTTP server loop."""
    from launcher.budget import Budget, discover_gpus
    from launcher.metrics import LauncherMetrics
    from launcher.node import Node
    from launcher.rest import build_app
    from launcher.spawner import ColdSpawner, ZygoteSpawner

    state_dir = Path(args.state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    gpus = discover_gpus(args.mock_gpus, args.mock_gpu_memory, args.node)
    budget = Budget(gpus, host_bytes=args.host_memory)
    engine = make_engine(args.engine, args, state_dir)
    if args.no_preload:
        spawner: Any = ColdSpawner(args.engine)
    else:
        spawner = ZygoteSpawner(args.engine)
    try:
        node = Node(args.node, state_dir, spawner, budget, engine, log_dir=args.log_dir,
                    validate=not args.no_validate, stop_grace=args.stop_grace)
    except Exception:
        spawner.close()
        raise
    metrics = LauncherMetrics(node)
    launcher = Launcher(node=node, spawner=spawner, app=build_app(node, metrics), metrics=metrics)
    if args.zmq:
        from launcher.zmqapi import start_zmq

        launcher.extras.append(start_zmq(node, args.zmq))
    if args.debug_socket != "none":
        from launcher.zmqapi import start_debug_socket

        from fma.transport.addresses import ipc_address

        addr = args.debug_socket or ipc_address(state_dir / "debug.sock")
        try:
            launcher.extras.append(start_debug_socket(node, addr))
        except (OSError, ValueError) as exc:  # inspection is optional; serving is not
            log.error("launcher %s: debug socket %s not started: %s", args.node, addr, exc)
    pod, ns = os.environ.get("POD_NAME"), os.environ.get("POD_NAMESPACE")
    if pod and ns:
        from launcher.podnotifier import KubePodPatcher, PodNotifier

        try:
            launcher.extras.append(PodNotifier(node, ns, pod, KubePodPatcher(os.environ.get("KUBECONFIG"))))
        except Exception as exc:
            log.error("pod %s/%s: instance-signature notifier disabled: %s", ns, pod, exc)
    return launcher


def start_http(launcher: Launcher, host: str, port: int) -> None:
    """Serve the REST API in a background thread; returns once it listens."""
    from launcher.rest import serve

    server = serve(launcher.app, host, port)
    launcher.server = server
    t = threading.Thread(target=server.run, name="launcher-http", daemon=True)
    t.start()
    launcher.server_thread = t
    while not server.started:
        if not t.is_alive():
            raise OSError(f"launcher REST API could not listen on {host}:{port}")
        t.join(0.02)


def run(args: argparse.Namespace) -> int:
    launcher = build(args)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        start_http(launcher, args.host, args.port)
        log.info("launcher %s: REST on http://%s:%d (engine %s, %d GPU(s), state %s)", args.node, args.host,
                 launcher.port, args.engine, len(launcher.node.budget.gpus), args.state_dir)
        stop.wait()
    finally:
        launcher.close(stop_instances=args.stop_instances_on_exit)
    return 0
