"""The launcher's ZMQ faces, through :mod:`fma.transport` (the only zmq importer).

* the ask endpoint (``--zmq``): each ask's ``type`` is an operation of
  :mod:`launcher.ops` and its body that operation's arguments; the launcher's records are
  published as events on the same host, so readiness is pushed, never polled;
* the debug socket (``--debug-socket``, CONTRACTS.md B3) over the node's event log.

When :mod:`fma.transport` is not importable the faces are skipped with a log line.
"""

from __future__ import annotations

import logging
from typing import Any

from launcher.ops import dispatch

log = logging.getLogger(__name__)


class _Nothing:
    def close(self) -> None:
        pass


def start_zmq(node: Any, addr: str) -> Any:
    try:
        from fma.transport import Host  # type: ignore[attr-defined]
    except ImportError as exc:
        log.error("launcher %s: ZMQ endpoint %s not started: %s", node.name, addr, exc)
        return _Nothing()
    host = Host(addr, name=f"launcher/{node.name}")

    def handle(msg_type: str, body: Any) -> Any:
        ok, reply = dispatch(node, msg_type, body)
        if not ok:
            raise ValueError(reply.get("detail"))
        return reply

    host.serve(handle)
    node.log.subscribe(lambda rec: host.publish(rec.to_dict()))
    return host


def start_debug_socket(node: Any, addr: str) -> Any:
    try:
        from fma.transport import serve_debug_socket  # type: ignore[attr-defined]
    except ImportError as exc:
        log.info("launcher %s: debug socket %s not started: %s", node.name, addr, exc)
        return _Nothing()
    return serve_debug_socket(addr, node.log)
