"""The churn benchmark's cluster: the API server emulator and the real ``fma controller`` as
processes, nodes and the ``gpu-map`` in the API, and a kubelet stand-in whose pods are
:mod:`fma.bench._fleet` endpoints instead of processes.

The kubelet stand-in watches pods like a kubelet: a pod bound to a node gets a pod IP and
its endpoint (a requester stub, or an engine for anything else); it reports ``podIP``,
phase Running and Ready (an engine is loaded at once; a requester turns Ready when its
stub is told ``become-ready``, as its readiness probe would see); a pod with a
``deletionTimestamp`` loses its endpoint and is deleted with grace 0, so the API server
removes it once its finalizers allow.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

from fma.bench._fleet import Fleet

log = logging.getLogger(__name__)
Obj = dict[str, Any]
REPO = Path(__file__).resolve().parents[2]
NS = "default"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """user + system CPU of a live process (Linux /proc)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return 0.0


def gpu_uuids(node: str, gpus: int) -> list[str]:
    from fma.gpus import mock_gpus

    return [g.uuid for g in mock_gpus(gpus, node=node)]


class Rig:
    """Emulator + controller processes, ``nodes`` x ``gpus`` in the API, the kubelet stand-in."""

    def __init__(self, nodes: int, gpus: int, controller_args: list[str] | None = None,
                 on_pod: Callable[[str, Obj], None] | None = None, writers: int = 6,
                 profile_controller: str | None = None) -> None:
        self.profile_controller = profile_controller
        self.nodes = [f"node-{i:03d}" for i in range(nodes)]
        self.gpus = {n: gpu_uuids(n, gpus) for n in self.nodes}
        self.on_pod = on_pod or (lambda typ, pod: None)
        self.dir = tempfile.mkdtemp(prefix="fma-bench-churn-")
        self.kubeconfig = os.path.join(self.dir, "kubeconfig")
        self.procs: dict[str, subprocess.Popen[str]] = {}
        self.fleet = Fleet(self._stub_ready)
        self.pool = ThreadPoolExecutor(writers, thread_name_prefix="bench-kube")
        self._local = threading.local()
        self._stop = threading.Event()
        self._started: set[str] = set()
        self._terminating: set[str] = set()
        self.first_seen: dict[str, float] = {}
        self.errors: list[str] = []
        self._events: queue.SimpleQueue[tuple[str, Obj] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self.controller_args = controller_args or []
        self.url = ""

    # ---- processes -------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG",)}
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), *(p for p in sys.path if p)])
        return env

    def start(self) -> "Rig":
        emu = subprocess.Popen(
            [sys.executable, "-m", "fma", "apiserver", "--port", "0", "--crds", str(REPO / "crds"),
             "--history", "1000000", "--kubeconfig-out", self.kubeconfig],
            stdout=subprocess.PIPE, stderr=open(os.path.join(self.dir, "apiserver.log"), "w"), text=True,
            env=self._env())
        self.procs["apiserver"] = emu
        assert emu.stdout is not None
        line = emu.stdout.readline()
        if "serving" not in line:
            raise RuntimeError(f"fma apiserver did not start: {line!r} (see {self.dir}/apiserver.log)")
        self.url = line.split("serving", 1)[1].split()[0]
        from fma.local.cluster import node_object

        kube = self.kube()
        for i, n in enumerate(self.nodes):
            node = node_object(n, len(self.gpus[n]), 80 * 10**9, i)
            kube.create_node(node)
        kube.upsert_configmap(NS, "gpu-map", {n: json.dumps({u: i for i, u in enumerate(g)})
                                              for n, g in self.gpus.items()})
        for target, name in ((self._watch, "bench-kubelet-watch"), (self._handle_loop, "bench-kubelet")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        env = self._env()
        runner = "fma"
        if self.profile_controller:
            runner = "fma.bench._profiled"
            env["FMA_PROFILE_OUT"] = self.profile_controller
        self.procs["controller"] = subprocess.Popen(
            [sys.executable, "-m", runner, "controller", "--kubeconfig", self.kubeconfig, "--namespace", NS,
             "--metrics-port", "0", "--debug-socket", f"ipc://{self.dir}/controller.sock", *self.controller_args],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.dir, "controller.log"), "w"), env=env)
        return self

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far: the controller, the API server, and this process (kubelet, stubs, driver)."""
        out = {k: cpu_seconds(p.pid) for k, p in self.procs.items()}
        out["bench"] = time.process_time()
        return out

    def close(self, keep: bool = False) -> None:
        """Stop everything; the state directory (process logs) stays only with ``keep``."""
        self._stop.set()
        self._events.put(None)
        for name in ("controller", "apiserver"):
            p = self.procs.get(name)
            if p is not None and p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(5)
            if p is not None and p.stdout is not None:
                p.stdout.close()
        self.pool.shutdown(wait=True, cancel_futures=True)
        for t in self._threads:
            t.join(5)
        self.fleet.close()
        if not keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "Rig":
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc: Any) -> None:
        self.close(keep=exc[0] is not None)

    # ---- API access from this process ------------------------------------------------
    def kube(self) -> Any:
        """A LocalKube for the calling thread (the client's connection pool is per thread here)."""
        k = getattr(self._local, "kube", None)
        if k is None:
            from fma.kube.local_helpers import LocalKube

            k = self._local.kube = LocalKube(self.url)
        return k

    def submit(self, what: str, fn: Callable[[Any], Any]) -> None:
        def job() -> None:
            try:
                fn(self.kube())
            except Exception as exc:  # noqa: BLE001 - recorded; the driver sees what did not happen
                if not self._stop.is_set():
                    self.errors.append(f"{what}: {type(exc).__name__}: {exc}")
                    log.debug("%s failed", what, exc_info=True)
        if not self._stop.is_set():
            self.pool.submit(job)

    # ---- the kubelet stand-in --------------------------------------------------------
    def _watch(self) -> None:
        self.kube().watch_pods(lambda typ, pod: self._events.put((typ, pod)), self._stop, NS)

    def _handle_loop(self) -> None:
        while True:
            item = self._events.get()
            if item is None:
                return
            try:
                self._on_pod(*item)
                self.on_pod(*item)
            except Exception:  # noqa: BLE001
                log.exception("kubelet stand-in: event handling failed")

    def _on_pod(self, typ: str, pod: Obj) -> None:
        from fma.controllers.dualpods import pods as P

        name = P.name(pod)
        self.first_seen.setdefault(name, time.monotonic())
        if typ == "DELETED":
            self.fleet.remove(name)
            self._started.discard(name)
            self._terminating.discard(name)
            self.first_seen.pop(name, None)
            return
        if P.deleting(pod):
            if name not in self._terminating:
                self._terminating.add(name)
                self.fleet.remove(name)
                self.submit(f"delete pod {name}", lambda k: k.delete_pod(NS, name, grace_seconds=0))
            return
        if not P.node(pod) or name in self._started or P.pod_ip(pod):
            return
        self._started.add(name)
        if P.is_requester(pod):
            gpus = [g for g in (P.annotations(pod).get("local.fma.llm-d.ai/gpus") or "").split(",") if g]
            ip = self.fleet.add(name, "requester", [P.admin_port(pod)], gpus)
            ready = False
        else:
            ip = self.fleet.add(name, "engine", [P.server_port(pod)])
            ready = True
        status = {"podIP": ip, "podIPs": [{"ip": ip}], "phase": "Running",
                  "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
        self.submit(f"status of pod {name}", lambda k: k.patch_pod_status(NS, name, status))

    def _stub_ready(self, name: str, ready: bool) -> None:
        cond = {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
        self.submit(f"readiness of pod {name}", lambda k: k.patch_pod_status(NS, name, cond))
