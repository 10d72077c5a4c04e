"""The launcher's operations by name, for message transports (ZMQ asks, the debug socket).

``dispatch(node, type, body)`` maps an ask onto the same node calls the REST API makes and
returns ``(ok, body)``: the body is the REST response body, or ``{"status", "detail"}``
for an error, so a controller sees the same facts through either face.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from launcher.ids import BadRequest, parse_create_body
from launcher.watch import Gone

OPS: dict[str, Callable[[Any, Mapping[str, Any]], Any]] = {
    "health": lambda node, b: {"status": "OK"},
    "create": lambda node, b: node.create(parse_create_body(b.get("spec", {})), b.get("instance_id")),
    "get": lambda node, b: node.get(str(b.get("instance_id"))).state_dict(),
    "list": lambda node, b: node.list(bool(b.get("detail", True))),
    "delete": lambda node, b: node.delete(str(b.get("instance_id"))),
    "delete_all": lambda node, b: node.delete_all(),
    "sleep": lambda node, b: node.sleep(str(b.get("instance_id")), int(b.get("level", 1))),
    "wake": lambda node, b: node.wake(str(b.get("instance_id"))),
    "events": lambda node, b: [{"revision": e.revision, **e.to_dict()} for e in node.watch.since(int(b.get("since", 0)))],
}


def dispatch(node: Any, op: str, body: Any) -> tuple[bool, Any]:
    fn = OPS.get(op)
    if fn is None:
        return False, {"status": 400, "detail": f"unknown operation {op!r}; known: {', '.join(sorted(OPS))}"}
    if body is None:
        body = {}
    if not isinstance(body, Mapping):
        return False, {"status": 422, "detail": f"body of {op!r} must be a map"}
    try:
        return True, fn(node, body)
    except Gone as exc:
        return False, {"status": 410, "detail": str(exc)}
    except BadRequest as exc:
        return False, {"status": exc.status, "detail": str(exc)}
    except (TypeError, ValueError) as exc:
        return False, {"status": 422, "detail": f"{op}: {exc}"}
