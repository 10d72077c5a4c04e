"""``fma requester``: the stub that runs in a server-requesting Pod (CONTRACTS.md A4)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "requester", help="run the requester stub (SPI on 8081, /ready and /health on 8080, proxy on 8082)",
        description="The tiny process of a server-requesting Pod. It reports the GPUs it holds "
        "(GET /v1/dual-pods/accelerators on the admin port), turns /ready to 200 when the dual-pods "
        "controller says its provider serves (POST /v1/become-ready), and forwards inference requests "
        "sent to the proxy port to that provider. GPUs come from --gpus (mock mode), else from "
        "NVIDIA_VISIBLE_DEVICES (UUIDs, or indices with --gpu-map), else from NVML.")
    p.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    p.add_argument("--admin-port", type=int, default=8081, help="SPI port (default 8081; 0 = ephemeral)")
    p.add_argument("--port", type=int, default=8080, help="port of /ready and /health (default 8080)")
    p.add_argument("--proxy-port", type=int, default=8082,
                   help="port that forwards inference requests to the provider (default 8082; -1 disables)")
    p.add_argument("--gpus", default=None, help="mock mode: comma-separated GPU UUIDs this requester holds")
    p.add_argument("--gpu-map", default=None,
                   help="JSON file of the gpu-map ConfigMap data (or one node's {uuid: index}) to map "
                   "NVIDIA_VISIBLE_DEVICES indices to UUIDs")
    p.add_argument("--node", default="", help="this node's name (key in --gpu-map; default $NODE_NAME)")
    p.add_argument("--name", default="", help="name used in log lines (default $POD_NAME or 'requester')")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    import logging
    import os
    import signal
    import sys
    import threading

    from fma.requester.gpus import find_gpus, load_gpu_map
    from fma.requester.server import RequesterServer, RequesterState

    log = logging.getLogger("fma.requester")
    node = args.node or os.environ.get("NODE_NAME", "")
    try:
        gmap = load_gpu_map(args.gpu_map, node)
    except (OSError, ValueError) as exc:
        print(f"fma requester: cannot read --gpu-map {args.gpu_map}: {exc}", file=sys.stderr)
        return 2
    src = find_gpus(args.gpus, os.environ, gmap)
    name = args.name or os.environ.get("POD_NAME", "requester")
    log.info("%s: GPUs %s (%s)", name, ",".join(src.uuids) or "-", src.reason)
    state = RequesterState(gpus=src.uuids, mock=src.source == "flags", name=name, log_out=sys.stdout)
    server = RequesterServer(state, args.host, args.admin_port, args.port,
                             None if args.proxy_port < 0 else args.proxy_port)
    try:
        server.start()
    except OSError as exc:
        print(f"fma requester: cannot listen: {exc}", file=sys.stderr)
        return 1
    log.info("%s: admin on %s, probes on %s, proxy on %s", name, server.ports.get("admin"),
             server.ports.get("probe"), server.ports.get("proxy", "off"))
    print(f"READY admin={server.ports.get('admin')} port={server.ports.get('probe')} "
          f"proxy={server.ports.get('proxy', 0)}", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    server.stop()
    return 0
