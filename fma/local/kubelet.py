"""The kubelet stand-in: runs the containers of pods bound to its nodes as local processes.

One :class:`Kubelet` serves every simulated node. For each pod bound to one of them it
gives the pod its own 127.0.x.y IP, starts each container's command (images ignored)
with its env, the downward API, and ``NVIDIA_VISIBLE_DEVICES`` set to the GPU UUIDs the
scheduler allocated (as NVIDIA's device plugin does), runs readiness and liveness probes,
restarts containers by ``restartPolicy`` (with a short back-off), and reports it all in
the pod's status: phase, podIP, conditions, containerStatuses (restarts, last state,
exit codes). Deletion follows Kubernetes: when ``deletionTimestamp`` appears, SIGTERM to
each container's process group, the grace period, SIGKILL, terminal status, then a
delete with grace 0 that lets the API server finalize the pod once its finalizers allow.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Mapping

from fma.local.containers import ContainerSpecError, container_argv, container_env
from fma.local.placement import ANN_GPUS
from fma.local.podnet import PodIPAllocator
from fma.local.probes import run_probe
from fma.local.procs import Proc, Supervisor, stop_proc

log = logging.getLogger(__name__)
Obj = dict[str, Any]


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class NodeRuntime:
    name: str
    gpu_uuids: list[str]
    dir: str           # per-node directory shared by its pods (like a hostPath)
    host_ip: str = "127.0.0.1"


@dataclass
class ProbeState:
    next_at: float = 0.0
    successes: int = 0
    failures: int = 0
    pending: cf.Future | None = None


@dataclass
class ContainerRun:
    spec: Obj
    proc: Proc | None = None
    restarts: int = 0
    ready: bool = False
    state: Obj = field(default_factory=lambda: {"waiting": {"reason": "ContainerCreating"}})
    last_state: Obj = field(default_factory=dict)
    restart_at: float | None = None
    started_mono: float = 0.0
    readiness: ProbeState = field(default_factory=ProbeState)
    liveness: ProbeState = field(default_factory=ProbeState)
    done: bool = False  # terminated for good (policy says no restart)

    @property
    def name(self) -> str:
        return str(self.spec.get("name"))


@dataclass
class PodRun:
    key: str
    uid: str
    node: NodeRuntime
    ip: str
    pod: Obj
    containers: list[ContainerRun]
    start_time: str = field(default_factory=now_iso)
    terminating: bool = False
    finished: bool = False
    conditions: dict[str, tuple[str, str]] = field(default_factory=dict)  # type -> (status, since)
    sent: str = ""


class Kubelet:
    """Runs pods bound to ``nodes``; talk to the API server through ``kube`` (a LocalKube)."""

    def __init__(self, kube: Any, nodes: Mapping[str, NodeRuntime], supervisor: Supervisor,
                 podnet: PodIPAllocator, log_dir: str, *, base_env: Mapping[str, str] | None = None,
                 injected_env: Mapping[str, str] | None = None, max_grace: float = 10.0,
                 max_probe_period: float = 0.5, on_change: Callable[[str, Obj], None] | None = None) -> None:
        self.kube = kube
        self.nodes = dict(nodes)
        self.sup = supervisor
        self.podnet = podnet
        self.log_dir = log_dir
        self.base_env = dict(os.environ if base_env is None else base_env)
        self.injected_env = dict(injected_env or {})
        self.max_grace = max_grace
        self.max_probe_period = max_probe_period
        self.on_change = on_change
        self.runs: dict[str, PodRun] = {}
        self._q: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._stop = threading.Event()
        self._pool = cf.ThreadPoolExecutor(max_workers=8, thread_name_prefix="kubelet-work")
        self._threads: list[threading.Thread] = []
        os.makedirs(log_dir, exist_ok=True)

    # ---- lifecycle
    def start(self) -> None:
        for target, name in ((self._watch, "kubelet-watch"), (self._loop, "kubelet-loop")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def close(self, grace: float = 3.0) -> None:
        """Stop watching and stop every container this kubelet started."""
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5)
        runs = list(self.runs.values())
        futs = [self._pool.submit(self._kill_containers, r, grace) for r in runs]
        cf.wait(futs, timeout=grace + 10)
        for r in runs:
            self.podnet.release(r.key)
        self._pool.shutdown(wait=False, cancel_futures=True)

    # ---- input
    def _watch(self) -> None:
        self.kube.watch_pods(lambda typ, pod: self._q.put(("pod", (typ, pod))), self._stop)

    def _on_proc_exit(self, proc: Proc) -> None:
        self._q.put(("exit", proc))

    # ---- the loop: every change to a PodRun happens on this thread
    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                kind, item = self._q.get(timeout=0.05)
                self._handle(kind, item)
                while True:
                    kind, item = self._q.get_nowait()
                    self._handle(kind, item)
            except queue.Empty:
                pass
            except Exception:  # noqa: BLE001 - one bad pod must not stop the node
                log.exception("kubelet loop error")
            try:
                self._tick()
            except Exception:  # noqa: BLE001
                log.exception("kubelet tick error")

    def _handle(self, kind: str, item: Any) -> None:
        if kind == "pod":
            typ, pod = item
            if (pod.get("spec") or {}).get("nodeName") in self.nodes:
                self._on_pod(typ, pod)
        elif kind == "exit":
            self._on_exit(item)
        elif kind == "call":
            item()

    def _on_pod(self, typ: str, pod: Obj) -> None:
        meta = pod.get("metadata") or {}
        key = f"{meta.get('namespace')}/{meta.get('name')}"
        run = self.runs.get(key)
        if run is not None and run.uid != meta.get("uid"):  # same name, new pod: the old one is gone
            self._begin_termination(run, gone=True)
            run = None
        if typ == "DELETED":
            if run is not None:
                self._begin_termination(run, gone=True)
            return
        if run is not None:
            run.pod = pod
            if meta.get("deletionTimestamp") and not run.terminating:
                self._begin_termination(run)
            return
        phase = (pod.get("status") or {}).get("phase")
        if meta.get("deletionTimestamp"):
            if phase not in ("Succeeded", "Failed"):
                self._pool.submit(self._finalize_unstarted, key, pod)
            return
        if phase in ("Succeeded", "Failed"):
            return
        self._admit(key, pod)

    # ---- starting
    def _admit(self, key: str, pod: Obj) -> None:
        node = self.nodes[pod["spec"]["nodeName"]]
        ip = self.podnet.allocate(key)
        spec = pod.get("spec") or {}
        run = PodRun(key, str(pod["metadata"].get("uid")), node, ip, pod,
                     [ContainerRun(c) for c in spec.get("containers") or []])
        self.runs[key] = run
        log.info("pod %s on %s: ip %s, gpus %s", key, node.name, ip,
                 ((pod["metadata"].get("annotations") or {}).get(ANN_GPUS) or "none"))
        for c in run.containers:
            self._start_container(run, c)

    def _injected(self, run: PodRun) -> dict[str, str]:
        ann = run.pod["metadata"].get("annotations") or {}
        gpus = ann.get(ANN_GPUS, "")
        env = dict(self.injected_env)
        env.update({
            "HOSTNAME": run.pod["metadata"]["name"],
            "FMA_POD_IP": run.ip, "FMA_POD_NAME": run.pod["metadata"]["name"],
            "FMA_POD_NAMESPACE": run.pod["metadata"].get("namespace", "default"),
            "FMA_NODE_NAME": run.node.name, "FMA_NODE_DIR": run.node.dir,
            "FMA_NODE_GPUS": ",".join(run.node.gpu_uuids),
        })
        env["NVIDIA_VISIBLE_DEVICES"] = gpus if gpus else "void"
        return env

    def _start_container(self, run: PodRun, c: ContainerRun) -> None:
        pod = dict(run.pod)
        pod["status"] = dict(pod.get("status") or {}, podIP=run.ip, hostIP=run.node.host_ip)
        key = f"{run.key}/{c.name}#{c.restarts}"
        try:
            env = container_env(pod, c.spec, base=self.base_env, injected=self._injected(run))
            argv = container_argv(pod, c.spec, env)
            log_path = os.path.join(self.log_dir, f"{run.key.replace('/', '_')}_{c.name}.log")
            c.proc = self.sup.start(key, argv, env=env, cwd=c.spec.get("workingDir") or None, log_path=log_path,
                                    on_exit=self._on_proc_exit)
        except (ContainerSpecError, OSError) as exc:
            reason = "CreateContainerConfigError" if isinstance(exc, ContainerSpecError) else "StartError"
            log.error("pod %s container %s: %s", run.key, c.name, exc)
            c.state = {"waiting": {"reason": reason, "message": str(exc)}}
            c.done = True
            return
        c.started_mono = time.monotonic()
        c.state = {"running": {"startedAt": now_iso()}}
        c.ready = False
        c.readiness = ProbeState(next_at=c.started_mono + float((c.spec.get("readinessProbe") or {}).get("initialDelaySeconds") or 0))
        c.liveness = ProbeState(next_at=c.started_mono + float((c.spec.get("livenessProbe") or {}).get("initialDelaySeconds") or 0))
        c.restart_at = None

    # ---- exits and restarts
    def _find(self, proc: Proc) -> tuple[PodRun, ContainerRun] | None:
        for run in self.runs.values():
            for c in run.containers:
                if c.proc is proc:
                    return run, c
        return None

    def _on_exit(self, proc: Proc) -> None:
        found = self._find(proc)
        if found is None:
            return
        run, c = found
        code = proc.exit_code if proc.exit_code is not None else -1
        term = {"exitCode": code if code >= 0 else 128 - code, "reason": "Completed" if code == 0 else "Error",
                "startedAt": c.state.get("running", {}).get("startedAt", now_iso()), "finishedAt": now_iso()}
        c.ready = False
        if run.terminating:
            c.state = {"terminated": term}
            return
        policy = (run.pod.get("spec") or {}).get("restartPolicy") or "Always"
        log.info("pod %s container %s exited with %s (log %s)", run.key, c.name, term["exitCode"], proc.log_path)
        if policy == "Always" or (policy == "OnFailure" and code != 0):
            c.last_state = {"terminated": term}
            backoff = min(5.0, 0.2 * (2 ** c.restarts))
            c.state = {"waiting": {"reason": "CrashLoopBackOff" if c.restarts else "Restarting",
                                   "message": f"back-off {backoff:.1f}s restarting failed container"}}
            c.restart_at = time.monotonic() + backoff
        else:
            c.state = {"terminated": term}
            c.done = True

    # ---- periodic work: restarts, probes, status
    def _tick(self) -> None:
        now = time.monotonic()
        for run in list(self.runs.values()):
            if run.finished:
                continue
            if not run.terminating:
                for c in run.containers:
                    if c.restart_at is not None and now >= c.restart_at:
                        c.restarts += 1
                        self._start_container(run, c)
                    elif c.proc is not None and "running" in c.state:
                        self._probe(run, c, now)
            self._push_status(run)

    def _probe(self, run: PodRun, c: ContainerRun, now: float) -> None:
        for kind in ("readinessProbe", "livenessProbe"):
            spec = c.spec.get(kind)
            st = c.readiness if kind == "readinessProbe" else c.liveness
            if not spec:
                if kind == "readinessProbe":
                    c.ready = True
                continue
            if st.pending is not None:
                if not st.pending.done():
                    continue
                try:
                    ok, detail = st.pending.result()
                except Exception as exc:  # noqa: BLE001
                    ok, detail = False, str(exc)
                st.pending = None
                if ok:
                    st.successes, st.failures = st.successes + 1, 0
                else:
                    st.failures, st.successes = st.failures + 1, 0
                if kind == "readinessProbe":
                    if ok and st.successes >= int(spec.get("successThreshold") or 1):
                        c.ready = True
                    elif not ok and st.failures >= int(spec.get("failureThreshold") or 3):
                        c.ready = False
                elif not ok and st.failures >= int(spec.get("failureThreshold") or 3) and c.proc is not None:
                    log.info("pod %s container %s liveness failed (%s): restarting", run.key, c.name, detail)
                    st.failures = 0
                    proc = c.proc
                    self._pool.submit(stop_proc, proc, self._grace(run))
            if st.pending is None and now >= st.next_at:
                period = min(float(spec.get("periodSeconds") or 10), self.max_probe_period)
                st.next_at = now + period
                st.pending = self._pool.submit(run_probe, spec, run.ip, c.spec)

    def _phase(self, run: PodRun) -> str:
        states = [c.state for c in run.containers]
        if all("terminated" in s for s in states) and all(c.done or run.terminating for c in run.containers):
            ok = all(s["terminated"].get("exitCode") == 0 for s in states)
            return "Succeeded" if ok else "Failed"
        if any(c.proc is not None for c in run.containers) or any(c.restarts for c in run.containers):
            return "Running"
        return "Pending"

    def _cond(self, run: PodRun, typ: str, ok: bool) -> Obj:
        status = "True" if ok else "False"
        prev = run.conditions.get(typ)
        if prev is None or prev[0] != status:
            run.conditions[typ] = (status, now_iso())
        return {"type": typ, "status": status, "lastTransitionTime": run.conditions[typ][1]}

    def status_of(self, run: PodRun) -> Obj:
        phase = self._phase(run)
        ready_all = bool(run.containers) and all(c.ready for c in run.containers) and not run.terminating
        cstat = []
        for c in run.containers:
            s: Obj = {"name": c.name, "ready": c.ready and not run.terminating, "restartCount": c.restarts,
                      "image": str(c.spec.get("image") or ""), "imageID": "",
                      "started": "running" in c.state, "state": c.state}
            if c.proc is not None:
                s["containerID"] = f"local://{c.proc.pid}"
            if c.last_state:
                s["lastState"] = c.last_state
            cstat.append(s)
        return {
            "phase": phase, "podIP": run.ip, "podIPs": [{"ip": run.ip}], "hostIP": run.node.host_ip,
            "startTime": run.start_time,
            "conditions": [self._cond(run, "PodScheduled", True), self._cond(run, "Initialized", True),
                           self._cond(run, "ContainersReady", ready_all), self._cond(run, "Ready", ready_all)],
            "containerStatuses": cstat,
        }

    def _push_status(self, run: PodRun) -> None:
        status = self.status_of(run)
        text = json.dumps(status, sort_keys=True)
        if text == run.sent:
            return
        ns, name = run.key.split("/", 1)
        try:
            self.kube.patch_pod_status(ns, name, status)
            run.sent = text
        except Exception as exc:  # noqa: BLE001 - NotFound: the pod is gone; others: retried next tick
            if type(exc).__name__ == "NotFound":
                run.sent = text
                if not run.terminating:
                    self._begin_termination(run, gone=True)
            else:
                log.warning("pod %s: status update failed: %s", run.key, exc)

    # ---- termination
    def _grace(self, run: PodRun) -> float:
        meta = run.pod.get("metadata") or {}
        g = meta.get("deletionGracePeriodSeconds")
        if g is None:
            g = (run.pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
        return max(0.0, min(float(g), self.max_grace))

    def _begin_termination(self, run: PodRun, gone: bool = False) -> None:
        if run.terminating:
            return
        run.terminating = True
        for c in run.containers:
            c.restart_at = None
        grace = 0.5 if gone else self._grace(run)
        log.info("pod %s: stopping containers (grace %.1fs)%s", run.key, grace, " — pod gone" if gone else "")

        def job() -> None:
            self._kill_containers(run, grace)
            self._q.put(("call", lambda: self._after_kill(run, gone)))
        self._pool.submit(job)

    def _kill_containers(self, run: PodRun, grace: float) -> None:
        procs = [c.proc for c in run.containers if c.proc is not None and c.proc.alive()]
        futs = [self._pool.submit(stop_proc, p, grace) for p in procs] if not self._stop.is_set() else []
        if self._stop.is_set():
            for p in procs:
                stop_proc(p, grace)
        cf.wait(futs, timeout=grace + 10)

    def _after_kill(self, run: PodRun, gone: bool) -> None:
        for c in run.containers:
            if "terminated" not in c.state:
                c.state = {"terminated": {"exitCode": 137, "reason": "Killed", "finishedAt": now_iso()}}
            c.ready = False
        ns, name = run.key.split("/", 1)
        if not gone:
            self._push_status(run)
            try:
                self.kube.delete_pod(ns, name, grace_seconds=0)
            except Exception as exc:  # noqa: BLE001
                log.warning("pod %s: final delete failed: %s", run.key, exc)
        run.finished = True
        self.podnet.release(run.key)
        if self.runs.get(run.key) is run:
            del self.runs[run.key]
        log.info("pod %s: terminated", run.key)

    def _finalize_unstarted(self, key: str, pod: Obj) -> None:
        ns, name = key.split("/", 1)
        try:
            self.kube.patch_pod_status(ns, name, {"phase": "Failed", "conditions": [
                {"type": "Ready", "status": "False", "lastTransitionTime": now_iso()}]})
            self.kube.delete_pod(ns, name, grace_seconds=0)
        except Exception as exc:  # noqa: BLE001
            log.debug("pod %s: finalize: %s", key, exc)
