"""Reading plain dict Pods (Kubernetes JSON shape, camelCase) without the kubernetes client."""

from __future__ import annotations

from typing import Any, Mapping

from fma.controllers.dualpods import names as N

Pod = Mapping[str, Any]


def meta(pod: Pod) -> Mapping[str, Any]:
    return pod.get("metadata") or {}


def name(pod: Pod) -> str:
    return str(meta(pod).get("name") or "")


def uid(pod: Pod) -> str:
    return str(meta(pod).get("uid") or "")


def labels(pod: Pod) -> Mapping[str, str]:
    return meta(pod).get("labels") or {}


def annotations(pod: Pod) -> Mapping[str, str]:
    return meta(pod).get("annotations") or {}


def finalizers(pod: Pod) -> list[str]:
    return list(meta(pod).get("finalizers") or [])


def deleting(pod: Pod) -> bool:
    return bool(meta(pod).get("deletionTimestamp"))


def node(pod: Pod) -> str:
    return str((pod.get("spec") or {}).get("nodeName") or "")


def pod_ip(pod: Pod) -> str:
    return str((pod.get("status") or {}).get("podIP") or "")


def ready(pod: Pod) -> bool:
    """The pod's Ready condition is True."""
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def failed(pod: Pod) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Failed", "Succeeded")


def created_ts(pod: Pod) -> str:
    return str(meta(pod).get("creationTimestamp") or "")


def is_requester(pod: Pod) -> bool:
    ann = annotations(pod)
    return N.ANN_SERVER_PATCH in ann or N.ANN_ISC in ann


def is_launcher(pod: Pod) -> bool:
    return N.LBL_LAUNCHER_CONFIG in labels(pod)


def is_direct_provider(pod: Pod) -> bool:
    return N.ANN_NOMINAL in annotations(pod) and not is_requester(pod)


def binding_value(requester: Pod) -> str:
    """The `requester` annotation value that binds a provider to ``requester``."""
    return f"{uid(requester)} {name(requester)}"


def bound_to(provider: Pod) -> tuple[str, str] | None:
    """(requester uid, requester name) from a provider's `requester` annotation, if any."""
    raw = annotations(provider).get(N.ANN_REQUESTER)
    if not raw:
        return None
    uid_, _, nm = raw.partition(" ")
    return uid_, nm


def sleeping(pod: Pod) -> bool:
    return labels(pod).get(N.LBL_SLEEPING) == "true"


def accelerators(pod: Pod) -> list[str] | None:
    raw = annotations(pod).get(N.ANN_ACCELERATORS)
    if raw is None:
        return None
    return [u.strip() for u in raw.split(",") if u.strip()]


def admin_port(pod: Pod) -> int:
    raw = annotations(pod).get(N.ANN_ADMIN_PORT)
    try:
        return int(raw) if raw else N.DEFAULT_ADMIN_PORT
    except ValueError:
        return N.DEFAULT_ADMIN_PORT


def last_used(pod: Pod) -> float:
    """When this provider was last released (our annotation); 0 when unknown."""
    raw = annotations(pod).get(N.ANN_LAST_USED)
    try:
        return float(raw) if raw else 0.0
    except ValueError:
        return 0.0


def sleeper_bytes(pod: Pod) -> int:
    raw = annotations(pod).get(N.ANN_SLEEPER_BYTES)
    try:
        return max(0, int(raw)) if raw else 0
    except ValueError:
        return 0


def server_port(pod: Pod, default: int = 8000) -> int:
    """The port vLLM listens on in the `inference-server` container.

    In order: a ``--port N`` / ``--port=N`` in its command or args (what vLLM itself
    reads), the port of its httpGet readiness probe, its first containerPort, else vLLM's
    default 8000. The container is the requester's merged with the server patch, so its
    ports list may still start with the requester stub's own ports (8080/8081): the
    first containerPort alone is not trustworthy.
    """
    for c in (pod.get("spec") or {}).get("containers") or []:
        if c.get("name") != N.SERVER_CONTAINER:
            continue
        argv = [str(a) for a in (c.get("command") or []) + (c.get("args") or [])]
        for i, a in enumerate(argv):
            value = argv[i + 1] if a == "--port" and i + 1 < len(argv) else (
                a.split("=", 1)[1] if a.startswith("--port=") else None)
            if value is not None and value.isdigit():
                return int(value)
        probe_port = ((c.get("readinessProbe") or {}).get("httpGet") or {}).get("port")
        if isinstance(probe_port, int) or (isinstance(probe_port, str) and probe_port.isdigit()):
            return int(probe_port)
        for p in c.get("ports") or []:
            if p.get("containerPort"):
                return int(p["containerPort"])
    return default
