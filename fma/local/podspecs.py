"""The objects a scenario creates: requester pods (direct or launcher mode), ISCs and the
LauncherConfig, for the ``sim`` engine (``fma sim-vllm``) or ``vllm-cpu`` (real vLLM on
the CPU with the tiny model). Every process binds its pod's own IP through ``$(POD_IP)``
(downward API), so pods keep their real ports.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

PREFIX = "dual-pods.llm-d.ai/"
REPO = Path(__file__).resolve().parents[2]
TINY_MODEL = str(REPO / "models" / "tiny-llama")
LAUNCHER_CONFIG = "local-launcher"
LAUNCHER_PORT = 8001
LAUNCHER_ZMQ_PORT = 8003  # the launcher's ZMQ asks + event stream; the controller follows it (container port "fma-zmq")
SCENARIO_LABEL = "fma.llm-d.ai/local-scenario"

POD_IP_ENV = [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
              {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
              {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
VLLM_ENV = [{"name": "VLLM_SERVER_DEV_MODE", "value": "1"}, {"name": "HF_HUB_OFFLINE", "value": "1"},
            {"name": "VLLM_CPU_KVCACHE_SPACE", "value": "1"}]


def _probe(path: str, port: int | str) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": port}, "periodSeconds": 1, "failureThreshold": 3}


def server_args(engine: str, model: str, port: int, time_scale: float) -> list[str]:
    """vLLM-style argv after the command, for one model server."""
    if engine == "sim":
        return ["--model", model, "--port", str(port), "--time-scale", f"{time_scale:g}"]
    return ["--model", TINY_MODEL, "--served-model-name", model, "--port", str(port), "--enforce-eager",
            "--max-model-len", "512", "--gpu-memory-utilization", "0.5"]


def server_command(engine: str) -> list[str]:
    if engine == "sim":
        return ["fma", "sim-vllm"]
    return ["python", "-m", "vllm.entrypoints.openai.api_server"]


def requester_container(gpus: int) -> dict[str, Any]:
    """The requester stub: SPI on 8081, probes on 8080, holding the GPUs."""
    return {
        "name": "inference-server",
        "image": "ghcr.io/llm-d-incubation/fma-py:local",
        "command": ["fma", "requester"],
        "args": ["--host", "$(POD_IP)", "--port", "8080", "--admin-port", "8081", "--proxy-port", "8082"],
        "env": list(POD_IP_ENV),
        "ports": [{"name": "probes", "containerPort": 8080}, {"name": "spi", "containerPort": 8081},
                  {"name": "proxy", "containerPort": 8082}],
        "resources": {"limits": {"nvidia.com/gpu": str(gpus)}, "requests": {"nvidia.com/gpu": str(gpus)}},
        "readinessProbe": _probe("/ready", 8080),
    }


def direct_patch(engine: str, model: str, port: int, time_scale: float) -> dict[str, Any]:
    """The server-patch: the same pod, but running the model server."""
    args = server_args(engine, model, port, time_scale) + ["--host", "$(POD_IP)"]
    if engine == "sim":
        args += ["--gpu-ledger", "$(FMA_NODE_DIR)/gpu-ledger"]
    return {
        "metadata": {"labels": {"fma.llm-d.ai/local-role": "provider"}},
        "spec": {"containers": [{
            "name": "inference-server",
            "command": server_command(engine),
            "args": args,
            "env": VLLM_ENV if engine != "sim" else [],
            "ports": [{"name": "http", "containerPort": port}],
            "readinessProbe": _probe("/health", port),
        }]},
    }


def requester_pod(name: str, *, mode: str, engine: str, model: str, gpus: int, port: int,
                  time_scale: float, isc: str = "", scenario: str = "") -> dict[str, Any]:
    ann = {PREFIX + "admin-port": "8081"}
    if mode == "direct":
        ann[PREFIX + "server-patch"] = yaml.safe_dump(direct_patch(engine, model, port, time_scale), sort_keys=False)
    else:
        ann[PREFIX + "inference-server-config"] = isc
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "annotations": ann,
                     "labels": {"app": "fma-local", SCENARIO_LABEL: scenario or "adhoc",
                                "fma.llm-d.ai/local-role": "requester", "fma.llm-d.ai/local-model": _label(model)}},
        "spec": {"containers": [requester_container(gpus)], "terminationGracePeriodSeconds": 5},
    }


def _label(text: str) -> str:
    out = "".join(c if c.isalnum() or c in "-_." else "_" for c in text)[-63:]
    return out.strip("-_.") or "x"


def isc_name(model: str, port: int) -> str:
    return f"isc-{_label(model).lower().replace('_', '-').replace('.', '-')}-{port}"[:63].strip("-")


# A launcher's instances are forked from a process that has already imported vLLM, so the
# simulator models their start without the imports: 8 s of the default 20 s init remain
# (engine and worker start). Direct providers start from scratch and pay the whole init.
WARM_INIT_SECONDS = 8.0


def isc(model: str, port: int, engine: str, time_scale: float) -> dict[str, Any]:
    args = server_args(engine, model, port, time_scale)
    if engine == "sim":
        args += ["--init-seconds", f"{WARM_INIT_SECONDS:g}"]
    options = " ".join(args)
    env = {"VLLM_SERVER_DEV_MODE": "1"}
    if engine != "sim":
        env.update({"HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1"})
    return {
        "apiVersion": "fma.llm-d.ai/v1alpha1", "kind": "InferenceServerConfig",
        "metadata": {"name": isc_name(model, port)},
        "spec": {"modelServerConfig": {"port": port, "options": options, "env_vars": env,
                                       # routing metadata put on the serving launcher; our own
                                       # fma.llm-d.ai/ prefix is reserved there (controller's keys)
                                       "labels": {"local.fma.llm-d.ai/model": _label(model)}},
                 "launcherConfigName": LAUNCHER_CONFIG},
    }


def launcher_config(engine: str, gpus_per_node: int, gpu_memory: int, time_scale: float,
                    max_instances: int = 8) -> dict[str, Any]:
    args = ["--node", "$(NODE_NAME)", "--host", "$(POD_IP)", "--port", str(LAUNCHER_PORT),
            "--engine", "sim" if engine == "sim" else "vllm", "--mock-gpus", str(gpus_per_node),
            "--mock-gpu-memory", str(gpu_memory), "--state-dir", "$(FMA_NODE_DIR)/launchers/$(POD_NAME)",
            "--stop-instances-on-exit", "--stop-grace", "3", "--zmq", f"tcp://$(POD_IP):{LAUNCHER_ZMQ_PORT}"]
    if engine == "sim":
        args += ["--sim-time-scale", f"{time_scale:g}"]
    container = {
        "name": "inference-server",
        "image": "ghcr.io/llm-d-incubation/fma-py:local",
        "command": ["fma", "launcher"], "args": args,
        "env": POD_IP_ENV + [{"name": "NVIDIA_VISIBLE_DEVICES", "value": "all"}] + (VLLM_ENV if engine != "sim" else []),
        "ports": [{"name": "launcher", "containerPort": LAUNCHER_PORT},
                  {"name": "fma-zmq", "containerPort": LAUNCHER_ZMQ_PORT}],
        "readinessProbe": _probe("/health", LAUNCHER_PORT),
    }
    return {
        "apiVersion": "fma.llm-d.ai/v1alpha1", "kind": "LauncherConfig",
        "metadata": {"name": LAUNCHER_CONFIG},
        "spec": {"maxInstances": max_instances,
                 "podTemplate": {"metadata": {"labels": {"app": "fma-local"}},
                                 "spec": {"containers": [container], "terminationGracePeriodSeconds": 5}}},
    }


def describe(obj: dict[str, Any]) -> str:
    return json.dumps(obj, indent=1)




def population_policy(per_node: int, node_selector: dict[str, str]) -> dict[str, Any]:
    """A LauncherPopulationPolicy keeping ``per_node`` launchers of the local LauncherConfig
    on every node whose labels match ``node_selector``."""
    return {
        "apiVersion": "fma.llm-d.ai/v1alpha1", "kind": "LauncherPopulationPolicy",
        "metadata": {"name": "local-launchers"},
        "spec": {"enhancedNodeSelector": {"labelSelector": {"matchLabels": dict(node_selector)}},
                 "countForLauncher": [{"launcherConfigName": LAUNCHER_CONFIG, "launcherCount": per_node}]},
    }
