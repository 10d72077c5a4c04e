"""What a container becomes as a local process: its argv and its environment.

Images are ignored; ``command`` + ``args`` run as given, with Kubernetes' ``$(VAR)``
expansion (``$$`` escapes). ``fma`` and ``python``/``python3`` resolve to this
interpreter, so pods run the same code as ``fma local``. Env follows the kubelet: the
container's ``env`` in order (``value`` with ``$(VAR)`` expansion, ``valueFrom.fieldRef``
for the downward API), plus what NVIDIA's device plugin and container runtime inject.
"""

from __future__ import annotations

import re
import sys
from typing import Any, Mapping, Sequence

_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")

# host variables that would leak GPU choices or cluster access of fma local's own process
_STRIP = ("CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT")


class ContainerSpecError(ValueError):
    """A container this kubelet cannot run; the message names pod and container."""


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion: unknown references stay as written; ``$$`` → ``$``."""
    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1)
        return env[name] if name in env else m.group(0)
    return _VAR.sub(sub, str(text))


def _field(pod: Mapping[str, Any], path: str) -> str:
    meta = pod.get("metadata") or {}
    m = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
    if m:
        return str((meta.get(m.group(1)) or {}).get(m.group(2), ""))
    simple = {
        "metadata.name": meta.get("name"), "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"), "spec.nodeName": (pod.get("spec") or {}).get("nodeName"),
        "spec.serviceAccountName": (pod.get("spec") or {}).get("serviceAccountName"),
        "status.podIP": (pod.get("status") or {}).get("podIP"),
        "status.hostIP": (pod.get("status") or {}).get("hostIP"),
    }
    return str(simple.get(path) or "")


def container_env(pod: Mapping[str, Any], container: Mapping[str, Any], *, base: Mapping[str, str],
                  injected: Mapping[str, str]) -> dict[str, str]:
    """The process environment: ``base`` (host, minus GPU and cluster variables), the
    runtime's ``injected`` variables, then the container's own ``env`` (which wins, except
    that ``NVIDIA_VISIBLE_DEVICES`` for a pod holding GPUs is always the device plugin's)."""
    env = {k: v for k, v in base.items() if k not in _STRIP}
    env.update(injected)
    for item in container.get("env") or []:
        name = item.get("name")
        if not name:
            continue
        if "value" in item:
            env[name] = expand(str(item.get("value") or ""), env)
        elif "valueFrom" in item:
            ref = (item["valueFrom"] or {}).get("fieldRef")
            env[name] = _field(pod, ref.get("fieldPath", "")) if ref else ""
        else:
            env[name] = ""
    if "NVIDIA_VISIBLE_DEVICES" in injected and injected["NVIDIA_VISIBLE_DEVICES"] not in ("void", ""):
        env["NVIDIA_VISIBLE_DEVICES"] = injected["NVIDIA_VISIBLE_DEVICES"]
    return env


def resolve_argv0(argv: Sequence[str]) -> list[str]:
    head, rest = argv[0], list(argv[1:])
    if head == "fma":
        return [sys.executable, "-m", "fma", *rest]
    if head in ("python", "python3", "python3.11"):
        return [sys.executable, *rest]
    return [head, *rest]


def container_argv(pod: Mapping[str, Any], container: Mapping[str, Any], env: Mapping[str, str]) -> list[str]:
    cmd = list(container.get("command") or [])
    args = list(container.get("args") or [])
    who = f"pod {(pod.get('metadata') or {}).get('namespace')}/{(pod.get('metadata') or {}).get('name')} " \
          f"container {container.get('name')!r}"
    if not cmd:
        raise ContainerSpecError(f"{who}: no command; fma local ignores images, so each container must say "
                                 f"what to run (e.g. command: [fma, sim-vllm])")
    return resolve_argv0([expand(str(a), env) for a in cmd + args])
