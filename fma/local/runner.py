"""The scenario engine: carries out a scenario's steps against a running LocalCluster and
returns what happened (per requester: mode, start kind, time to Ready)."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from fma.local import podspecs
from fma.local.observe import ControllerStarts, Observer, Requester
from fma.local.scenario import Scenario, Step

log = logging.getLogger(__name__)


class ScenarioFailed(RuntimeError):
    """A step could not complete (timeout, API error); the message says which and why."""


@dataclass
class RunResult:
    scenario: str
    engine: str
    started: float
    finished: float
    requesters: list[Requester]
    sleeps: int
    errors: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)


# how long a requester's status may show a controller error before a `wait: ready` gives up
STATUS_ERROR_GRACE = 5.0


class ScenarioRunner:
    def __init__(self, cluster: Any, scenario: Scenario, engine: str = "sim", time_scale: float | None = None,
                 on_note: Callable[[str], None] | None = None) -> None:
        self.cluster = cluster
        self.sc = scenario
        self.engine = engine
        self.time_scale = time_scale if time_scale is not None else scenario.time_scale
        self.ns = cluster.opts.namespace
        events = os.path.join(getattr(cluster, "dir", "") or "", "controller-events.log")
        self.obs = Observer(on_note=on_note, decided_start=ControllerStarts(events, self.ns))
        self._stop = threading.Event()
        self._watch: threading.Thread | None = None
        self._iscs: set[str] = set()
        self._touched: list[str] = []
        self._launcher_config = False

    # ---- observation
    def start_watch(self) -> None:
        self._watch = threading.Thread(target=self.cluster.kube.watch_pods, args=(self.obs.on_pod, self._stop),
                                       kwargs={"namespace": self.ns}, name="scenario-watch", daemon=True)
        self._watch.start()

    def stop_watch(self) -> None:
        self._stop.set()
        if self._watch is not None:
            self._watch.join(timeout=5)

    # ---- running
    def run(self) -> RunResult:
        started = time.monotonic()
        errors: list[str] = []
        self.start_watch()
        try:
            if self.sc.launchers.get("per_node"):
                self._ensure_launcher_config()
                self._create_custom("launcherpopulationpolicies", podspecs.population_policy(
                    self.sc.launchers["per_node"], self.sc.launchers.get("node_selector") or {}))
                try:  # before any requester: launchers starting alongside a cold start would slow it (shared CPUs)
                    self._await_launchers()
                except ScenarioFailed as exc:
                    errors.append(f"launcher population: {exc}")
            for n, step in enumerate(self.sc.steps, 1):
                try:
                    self._do(step)
                except ScenarioFailed as exc:
                    errors.append(f"step {n} ({step.op} {step.name or step.until}): {exc}")
                    self.obs.note(f"FAILED: {errors[-1]}")
                    break
        finally:
            self.stop_watch()
        reqs = list(self.obs.requesters.values())
        mism = [f"{r.name}: expected {r.expect} start, saw {r.start or 'none'}" for r in reqs
                if r.expect and r.start and r.start != r.expect]
        return RunResult(self.sc.name, self.engine, started, time.monotonic(), reqs, self.obs.sleeps, errors, mism)

    def _do(self, step: Step) -> None:
        if step.op == "create":
            self._create(step)
        elif step.op == "delete":
            r = self.obs.requesters.get(step.name)
            if r is None:
                raise ScenarioFailed(f"requester {step.name!r} was never created")
            r.deleted_at = time.monotonic()
            self.cluster.kube.delete_pod(self.ns, step.name)
            self.obs.note(f"requester {step.name} deleted")
            self._touched.append(step.name)
        elif step.op == "wait":
            self._wait(step)
        elif step.op == "sleep":
            self._stop.wait(step.seconds)
        elif step.op == "fault":
            self._kill(step.name)

    def _await_launchers(self, timeout: float = 60.0) -> None:
        """Wait until the populator's launchers are Ready on every matching node, so the
        first requesters find them (warm starts) instead of racing them (cold starts)."""
        sel = self.sc.launchers.get("node_selector") or {}
        nodes = [n for n in self.cluster.kube.list_nodes()
                 if all(((n.get("metadata") or {}).get("labels") or {}).get(k) == v for k, v in sel.items())]
        want = self.sc.launchers["per_node"] * len(nodes)
        if want == 0:
            return
        self.obs.note(f"waiting for {want} launcher(s) from the populator")
        if not self.obs.wait(lambda: self.obs.ready_launchers() >= want or self._stop.is_set(), timeout):
            raise ScenarioFailed(f"only {self.obs.ready_launchers()} of {want} launchers Ready after {timeout:.0f}s "
                                 f"(is `fma populator` running? logs under {self.cluster.dir})")

    def _ensure_launcher_config(self) -> None:
        if self._launcher_config:
            return
        lc = podspecs.launcher_config(self.engine, self.cluster.opts.gpus_per_node, self.cluster.opts.gpu_memory,
                                      self.time_scale)
        self._create_custom("launcherconfigs", lc)
        self._launcher_config = True

    def _create_custom(self, plural: str, obj: dict[str, Any]) -> None:
        from fma.kube.local_helpers import Conflict

        try:
            self.cluster.kube.create_custom(self.ns, plural, obj)
        except Conflict:
            pass
        except Exception as exc:  # noqa: BLE001
            raise ScenarioFailed(f"creating {plural} {obj['metadata']['name']}: {exc}") from exc

    def _create(self, step: Step) -> None:
        model = self.sc.model_of(step.model)
        isc_name = ""
        if step.mode == "launcher":
            self._ensure_launcher_config()
            isc_name = podspecs.isc_name(model, step.port)
            if isc_name not in self._iscs:
                self._create_custom("inferenceserverconfigs", podspecs.isc(model, step.port, self.engine, self.time_scale))
                self._iscs.add(isc_name)
        pod = podspecs.requester_pod(step.name, mode=step.mode, engine=self.engine, model=model, gpus=step.gpus,
                                     port=step.port, time_scale=self.time_scale, isc=isc_name, scenario=self.sc.name)
        r = Requester(step.name, step.mode, model, step.gpus, time.monotonic(), expect=step.expect)
        self.obs.expect_requester(r)
        try:
            created = self.cluster.kube.create_pod(self.ns, pod)
        except Exception as exc:  # noqa: BLE001
            raise ScenarioFailed(f"creating requester {step.name}: {exc}") from exc
        r.uid = str((created.get("metadata") or {}).get("uid") or "")
        self.obs.note(f"requester {step.name} created ({step.mode}, {model}, {step.gpus} GPU)")
        self._touched.append(step.name)

    def _wait(self, step: Step) -> None:
        names = list(step.names) or list(dict.fromkeys(self._touched))
        self._touched = []
        reqs = [self.obs.requesters[n] for n in names if n in self.obs.requesters]
        if step.until == "ready":
            def stuck() -> list[Requester]:
                """Requesters whose status has held a controller error for a while: a bad
                server-patch or ISC does not mend itself, so the wait ends at once."""
                now = self.obs.clock()
                return [r for r in reqs if r.ready_at is None and r.status_since is not None
                        and now - r.status_since >= STATUS_ERROR_GRACE]

            pred = lambda: all(r.ready_at is not None for r in reqs) or bool(stuck())  # noqa: E731
        else:
            # gone from the API server and their GPUs back with the scheduler, so the next
            # requesters are placed on the GPUs these held
            placed = self.cluster.state.where if getattr(self.cluster, "state", None) is not None else {}
            pred = lambda: all(r.gone_at is not None and f"{self.ns}/{r.name}" not in placed  # noqa: E731
                               for r in reqs if r.deleted_at is not None)
        ok = self._poll(pred, step.timeout)
        if ok and step.until == "ready" and stuck():
            notes = "; ".join(f"{r.name}: {r.status_note}" for r in stuck())
            raise ScenarioFailed(f"requester status error (the controller will not serve it as it is): {notes}"
                                 f"; logs under {self.cluster.dir}")
        if not ok or self._stop.is_set():
            late = [r.name for r in reqs if (r.ready_at is None if step.until == "ready" else r.gone_at is None)]
            notes = "; ".join(f"{r.name}: {r.status_note}" for r in reqs if r.status_note)
            raise ScenarioFailed(f"timed out after {step.timeout:.0f}s waiting for {late} to be {step.until}"
                                 + (f" (status: {notes})" if notes else "")
                                 + f"; logs under {self.cluster.dir}")

    def _poll(self, pred: Callable[[], bool], timeout: float) -> bool:
        """Wait for ``pred``, woken by pod events and re-checked every 50 ms (some of what
        it reads, like the scheduler's books, changes without a pod event)."""
        deadline = time.monotonic() + timeout
        while not self._stop.is_set():
            if self.obs.wait(lambda: pred() or self._stop.is_set(), min(0.05, max(0.0, deadline - time.monotonic()))):
                return not self._stop.is_set()
            if time.monotonic() >= deadline:
                return False
        return False

    def _kill(self, name: str) -> None:
        kubelet = self.cluster.kubelet
        run = kubelet.runs.get(f"{self.ns}/{name}") if kubelet else None
        if run is None:
            raise ScenarioFailed(f"fault: no running pod {name!r}")
        for c in run.containers:
            if c.proc is not None and c.proc.alive():
                try:
                    os.killpg(c.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.obs.note(f"fault: killed the processes of pod {name}")

    def abort(self) -> None:
        self._stop.set()
        with self.obs.cond:
            self.obs.cond.notify_all()
