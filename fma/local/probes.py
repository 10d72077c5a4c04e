"""Readiness/liveness probes as the kubelet runs them: httpGet and tcpSocket."""

from __future__ import annotations

import http.client
import socket
from typing import Any, Mapping


def resolve_port(port: Any, container: Mapping[str, Any]) -> int:
    """A probe's port: a number, or the name of one of the container's ports."""
    if isinstance(port, int):
        return port
    text = str(port)
    if text.isdigit():
        return int(text)
    for p in container.get("ports") or []:
        if p.get("name") == text:
            return int(p["containerPort"])
    raise ValueError(f"container {container.get('name')!r}: probe names port {text!r}, which it does not declare")


def run_probe(probe: Mapping[str, Any], pod_ip: str, container: Mapping[str, Any]) -> tuple[bool, str]:
    """(success, detail). A probe without a handler this kubelet knows counts as success."""
    timeout = float(probe.get("timeoutSeconds") or 1)
    if "httpGet" in probe:
        h = probe["httpGet"]
        host = h.get("host") or pod_ip
        port = resolve_port(h.get("port"), container)
        path = h.get("path") or "/"
        cls = http.client.HTTPSConnection if str(h.get("scheme", "HTTP")).upper() == "HTTPS" else http.client.HTTPConnection
        conn = cls(host, port, timeout=timeout)
        try:
            headers = {x["name"]: x["value"] for x in h.get("httpHeaders") or []}
            conn.request("GET", path, headers=headers)
            code = conn.getresponse().status
            return 200 <= code < 400, f"GET http://{host}:{port}{path} -> {code}"
        except OSError as exc:
            return False, f"GET http://{host}:{port}{path}: {exc}"
        finally:
            conn.close()
    if "tcpSocket" in probe:
        t = probe["tcpSocket"]
        host = t.get("host") or pod_ip
        port = resolve_port(t.get("port"), container)
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return True, f"tcp {host}:{port} open"
        except OSError as exc:
            return False, f"tcp {host}:{port}: {exc}"
    return True, "no probe handler this kubelet runs (exec/grpc): assumed success"
