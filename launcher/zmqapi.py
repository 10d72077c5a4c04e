"""The launcher's ZMQ faces, through :mod:`fma.transport` (the only zmq importer).

* the ask endpoint (``--zmq``): a :class:`fma.transport.Host` over the node's event log.
  Each ask's ``type`` is an operation of :mod:`launcher.ops` and its body that
  operation's arguments; it is answered whether addressed to ``launcher/<node>`` or sent
  without a target. The host's PUB face publishes every record of the node's log, so
  instance readiness reaches the controller as a pushed event, never by polling;
* the debug socket (``--debug-socket``, CONTRACTS.md B3) over the same log.
"""

from __future__ import annotations

import logging
from typing import Any

from launcher.ops import dispatch

log = logging.getLogger(__name__)


class OperationFailed(ValueError):
    """An operation the launcher refused; the message is the REST ``detail``."""


def start_zmq(node: Any, addr: str) -> Any:
    from fma.transport import Host

    name = f"launcher/{node.name}"
    host = Host(node.log, addr, name=name)

    def handle(msg_type: str, body: Any) -> Any:
        ok, reply = dispatch(node, msg_type, body)
        if not ok:
            raise OperationFailed(reply.get("detail"))
        return reply

    host.route(name, handle)
    host.serve(default=handle)
    log.info("launcher %s: ZMQ asks on %s, events on %s", node.name, host.address, host.pub_address)
    return host


def start_debug_socket(node: Any, addr: str) -> Any:
    from fma.transport import serve_debug_socket

    server = serve_debug_socket(addr, node.log)
    log.info("launcher %s: debug socket on %s", node.name, getattr(server, "address", addr))
    return server
