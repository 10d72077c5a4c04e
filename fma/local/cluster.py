"""A whole cluster in one process tree: API server emulator, nodes, scheduler, kubelet,
controllers. :class:`LocalCluster` is a context manager; leaving it (normally, on an
exception or on Ctrl-C) stops every process it started.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from fma.transport.addresses import ipc_address

from fma.local.kubelet import Kubelet, NodeRuntime
from fma.local.placement import ClusterState
from fma.local.podnet import PodIPAllocator
from fma.local.procs import Proc, Supervisor
from fma.local.scheduler import Scheduler

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[2]
GPU_MAP = "gpu-map"


@dataclass
class ClusterOptions:
    nodes: int = 2
    gpus_per_node: int = 4
    gpu_memory: int = 80 * 10**9
    namespace: str = "default"
    state_dir: str | None = None
    controller: bool = True
    populator: bool = True
    controller_args: list[str] = field(default_factory=list)
    crd_dir: str = str(REPO / "crds")
    max_grace: float = 10.0


def node_object(name: str, gpus: int, gpu_memory: int, index: int) -> dict[str, Any]:
    alloc = {"cpu": "16", "memory": "128Gi", "pods": "110", "nvidia.com/gpu": str(gpus)}
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
            "nvidia.com/gpu.count": str(gpus), "nvidia.com/gpu.memory": str(gpu_memory // 2**20),
            "nvidia.com/gpu.product": "FMA-Local-Mock-GPU", "fma.llm-d.ai/local-node": "true"}},
        "spec": {},
        "status": {"capacity": alloc, "allocatable": alloc,
                   "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": name}],
                   "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                   "message": "fma local kubelet stand-in"}],
                   "nodeInfo": {"kubeletVersion": "fma-local", "kubeProxyVersion": "fma-local",
                                "operatingSystem": "linux", "architecture": "amd64",
                                "osImage": "fma local", "kernelVersion": "", "containerRuntimeVersion": "fma-local://0",
                                "bootID": name, "machineID": name, "systemUUID": name}},
    }


def start_emulator(crd_dir: str) -> tuple[Any, str]:
    """The kube engineer's emulator (``fma.kube.emulator.Emulator``) on an ephemeral port."""
    try:
        from fma.kube.emulator import Emulator  # type: ignore[import-not-found]
    except ImportError as exc:
        raise RuntimeError(f"fma local needs the API server emulator (fma.kube.emulator): {exc}") from exc
    emu = Emulator(port=0, crd_dir=crd_dir)
    for name in ("start", "__enter__"):
        fn = getattr(emu, name, None)
        if fn is not None:
            fn()
            break
    url = getattr(emu, "url", None) or f"http://127.0.0.1:{getattr(emu, 'port')}"
    return emu, str(url)


def stop_emulator(emu: Any) -> None:
    for name in ("stop", "close", "shutdown"):
        fn = getattr(emu, name, None)
        if fn is not None:
            fn()
            return


class LocalCluster:
    def __init__(self, opts: ClusterOptions, on_decision: Callable[[str, str], None] | None = None) -> None:
        self.opts = opts
        self._own_dir = opts.state_dir is None
        self.dir = opts.state_dir or tempfile.mkdtemp(prefix="fma-local-")
        os.makedirs(self.dir, exist_ok=True)
        self.kubeconfig = os.path.join(self.dir, "kubeconfig")
        self.on_decision = on_decision
        self.sup = Supervisor()
        self.emu: Any = None
        self.url = ""
        self.kube: Any = None
        self.state = ClusterState()
        self.nodes: dict[str, NodeRuntime] = {}
        self.scheduler: Scheduler | None = None
        self.kubelet: Kubelet | None = None
        self.podnet = PodIPAllocator()
        self.system: dict[str, Proc] = {}
        self._system_args: dict[str, tuple[list[str], bool]] = {}

    # ---- context manager
    def __enter__(self) -> "LocalCluster":
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def start(self) -> None:
        from fma.gpus import mock_gpus
        from fma.kube.local_helpers import LocalKube, write_kubeconfig

        t0 = time.monotonic()
        self.emu, self.url = start_emulator(self.opts.crd_dir)
        self.kube = LocalKube(self.url)
        write_kubeconfig(self.kubeconfig, self.url)
        if self.opts.namespace != "default":
            self.kube.ensure_namespace(self.opts.namespace)
        gpu_map: dict[str, str] = {}
        for i in range(self.opts.nodes):
            name = f"node-{i}"
            gpus = mock_gpus(self.opts.gpus_per_node, self.opts.gpu_memory, node=name)
            node = node_object(name, len(gpus), self.opts.gpu_memory, i)
            created = self.kube.create_node(node)
            try:  # a real API server ignores status on create
                self.kube.patch_node_status(name, node["status"])
            except Exception as exc:  # noqa: BLE001
                log.debug("node %s status: %s", name, exc)
            self.state.add_node(created if created.get("metadata") else node, [g.uuid for g in gpus])
            ndir = os.path.join(self.dir, "nodes", name)
            os.makedirs(ndir, exist_ok=True)
            self.nodes[name] = NodeRuntime(name, [g.uuid for g in gpus], ndir)
            gpu_map[name] = json.dumps({g.uuid: g.index for g in gpus})
        self.kube.upsert_configmap(self.opts.namespace, GPU_MAP, gpu_map)
        self.scheduler = Scheduler(self.kube, self.state, on_decision=self.on_decision)
        self.kubelet = Kubelet(self.kube, self.nodes, self.sup, self.podnet, os.path.join(self.dir, "pods"),
                               injected_env={"KUBECONFIG": self.kubeconfig, "FMA_LOCAL": "1"},
                               max_grace=self.opts.max_grace)
        self.scheduler.start()
        self.kubelet.start()
        if self.opts.controller:
            self._start_system("controller", [
                "controller", "--kubeconfig", self.kubeconfig, "--namespace", self.opts.namespace,
                "--metrics-port", "0", "--event-log", os.path.join(self.dir, "controller-events.log"),
                "--debug-socket", ipc_address(os.path.join(self.dir, "controller.sock")), *self.opts.controller_args])
        if self.opts.populator:
            self._start_system("populator", ["populator", "--kubeconfig", self.kubeconfig,
                                             "--namespace", self.opts.namespace], optional=True)
        log.info("fma local: API server %s, %d node(s) x %d GPU(s), state in %s (%.1fs)", self.url,
                 self.opts.nodes, self.opts.gpus_per_node, self.dir, time.monotonic() - t0)

    def _start_system(self, name: str, args: list[str], optional: bool = False) -> None:
        if not _has_command(args[0]):
            (log.info if optional else log.warning)("fma local: `fma %s` does not exist yet; running without it", args[0])
            return
        self._system_args[name] = (list(args), optional)
        env = {k: v for k, v in os.environ.items() if k not in ("CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES")}
        env["KUBECONFIG"] = self.kubeconfig
        self.system[name] = self.sup.start(name, [sys.executable, "-m", "fma", *args], env=env,
                                           log_path=os.path.join(self.dir, f"{name}.log"))

    def restart_system(self, name: str, grace: float = 3.0) -> None:
        """Stop one of the system processes (``controller``, ``populator``) and start it
        again with the same arguments: a controller restart as a Deployment would do it."""
        if name not in self._system_args:
            raise KeyError(f"fma local: no system process {name!r} (have: {', '.join(self.system) or 'none'})")
        proc = self.system.pop(name, None)
        if proc is not None:
            self.sup.stop(proc.key, grace=grace)
        args, optional = self._system_args[name]
        self._start_system(name, args, optional)

    def close(self) -> None:
        """Stop everything, in reverse order; safe to call twice and after a partial start."""
        for name, proc in list(self.system.items()):
            self.sup.stop(proc.key, grace=3.0)
        if self.scheduler is not None:
            self.scheduler.close()
        if self.kubelet is not None:
            self.kubelet.close(grace=3.0)
        self.sup.close(grace=3.0)
        self.podnet.close()  # the pod IP block, free for the next cluster on this host
        if self.kube is not None:
            self.kube.close()
            self.kube = None
        if self.emu is not None:
            try:
                stop_emulator(self.emu)
            except Exception as exc:  # noqa: BLE001
                log.warning("stopping the API server emulator: %s", exc)
            self.emu = None

    def process_pids(self) -> list[int]:
        return [p.pid for p in self.sup.live()]


def _has_command(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(f"fma.cli.{name.replace('-', '_')}") is not None
