"""The live populator: watch events -> a cache -> per-node plans -> writes.

Level-based: an event only says which nodes to look at again (a pod: its node; a node:
itself; a LauncherConfig or policy: every node); each pass re-reads the cache for those
nodes, plans (:func:`plan_node`) and carries the plan out. Creates and deletes are
remembered as expectations until the watch shows them, so a slow watch never causes a
second create. The clock is injected: stuck verdicts and expectation expiry wake the
loop exactly when they are due. One worker thread; every decision is an event of the
pair's lifecycle in the event log (``launcher-pair/<ns>/<node>/<lc>``).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from fma.controllers.populator import names as N
from fma.controllers.populator.expectations import Expectations
from fma.controllers.populator.launchers import LauncherView, is_launcher, launcher_view
from fma.controllers.populator.lifecycle import PairLifecycle, PairState, pair_actor
from fma.controllers.populator.plan import NodePlan, PairPlan, plan_node
from fma.controllers.populator.policy import Policy, desired_counts, node_view, parse_policy
from fma.controllers.populator.port import Obj, PopulatorPort, PortConflict, PortNotFound
from fma.controllers.populator.stuck import Thresholds
from fma.controllers.populator.template import LauncherConfigView, build_launcher_pod, parse_launcher_config
from fma.statemachines import rebuild

log = logging.getLogger(__name__)


class Populator:
    def __init__(self, port: PopulatorPort, *, clock: Callable[[], float] = time.time,
                 thresholds: Thresholds = Thresholds(), expectation_ttl: float = 60.0,
                 event_log: Any = None, metrics: Any = None) -> None:
        self.port = port
        self.namespace = port.namespace
        self.clock = clock
        self.thresholds = thresholds
        self.expectations = Expectations(clock, expectation_ttl)
        self.log = event_log
        self.metrics = metrics
        self.cache: dict[str, dict[str, Obj]] = {"nodes": {}, "pods": {}, "launcherconfigs": {},
                                                 "launcherpopulationpolicies": {}}
        self._lock = threading.RLock()
        self._dirty: set[str] = set()
        self._all = True
        self._recheck: dict[str, float] = {}
        self._pairs: dict[tuple[str, str], PairLifecycle] = {}
        self._status_sent: dict[tuple[str, str], tuple[int, tuple[str, ...]]] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.plans: dict[str, NodePlan] = {}  # the last plan per node (metrics, debugging)

    # ---- informer side ---------------------------------------------------------------
    def on_event(self, kind: str, type_: str, obj: Obj) -> None:
        md = obj.get("metadata") or {}
        name = md.get("name", "")
        with self._lock:
            store = self.cache.get(kind)
            if store is None:
                return
            if kind == "pods":
                if not is_launcher(obj):
                    return
                old = store.get(name)
                v = launcher_view(obj)
                key = (v.node, v.lc)
                if type_ == "DELETED":
                    store.pop(name, None)
                    self.expectations.gone(key, v.uid, name)
                else:
                    store[name] = obj
                    self.expectations.seen(key, name)
                self._dirty.add(v.node)
                if old is not None:
                    self._dirty.add(launcher_view(old).node)
            else:
                if type_ == "DELETED":
                    store.pop(name, None)
                else:
                    store[name] = obj
                if kind == "nodes":
                    self._dirty.add(name)
                else:
                    self._all = True
        self._wake.set()

    # ---- one pass ----------------------------------------------------------------------
    def reconcile(self) -> float | None:
        """Plan and act on every node that needs it; returns when to look again (or None)."""
        now = self.clock()
        self._resolve_expired()
        with self._lock:
            policies = [parse_policy(o) for o in self.cache["launcherpopulationpolicies"].values()]
            configs = {o["metadata"]["name"]: parse_launcher_config(o) for o in self.cache["launcherconfigs"].values()}
            nodes = [node_view(o) for o in self.cache["nodes"].values()]
            desired = desired_counts(policies, nodes)
            launchers: dict[str, list[LauncherView]] = {}
            for pod in self.cache["pods"].values():
                v = launcher_view(pod)
                launchers.setdefault(v.node, []).append(v)
            todo = set(self._dirty)
            if self._all:
                todo |= {n.name for n in nodes} | set(launchers) | {k[0] for k in self.expectations.keys()}
            todo |= {n for n, t in self._recheck.items() if t <= now}
            todo |= {k[0] for k in self.expectations.keys()}  # expiry is checked in pending()
            self._dirty.clear()
            self._all = False
        self._write_statuses(policies, configs)
        fresh: list[NodePlan] = []
        for node in sorted(todo):
            want = {lc: n for (nd, lc), n in desired.items() if nd == node}
            pend = {k[1]: self.expectations.pending(k) for k in self.expectations.keys() if k[0] == node}
            plan = plan_node(node, want, configs, launchers.get(node, []), pend, now, self.thresholds)
            self.plans[node] = plan
            fresh.append(plan)
            if plan.recheck_at is not None:
                self._recheck[node] = plan.recheck_at
            else:
                self._recheck.pop(node, None)
            self._carry_out(plan, configs)
        if self.metrics is not None:
            self.metrics.observe(self.plans, fresh)
        times = list(self._recheck.values())
        exp = self.expectations.next_expiry()
        if exp is not None:
            times.append(exp)
        with self._lock:
            if self._dirty or self._all:
                return now
        return min(times) if times else None

    def _resolve_expired(self) -> None:
        """Expectations the watch has not met in time: read the pod from the API server."""
        for key, what, name, uid in self.expectations.expired():
            try:
                pod = self.port.get_pod(name)
            except Exception as exc:
                log.warning("populator: cannot read pod %s to resolve an expectation: %s", name, exc)
                continue
            log.warning("populator: the watch has not shown the %s of launcher %s on node %s in %.0fs; "
                        "read it from the API server: %s", what, name, key[0], self.expectations.ttl,
                        "present" if pod else "absent")
            self.expectations.forget(key, name, uid)
            if what == "create" and pod is not None and (pod.get("metadata") or {}).get("uid"):
                self.on_event("pods", "ADDED", pod)
            elif what == "delete":
                with self._lock:
                    cached = self.cache["pods"].get(name)
                if pod is None and cached is not None:
                    self.on_event("pods", "DELETED", cached)
            self._redo(key[0])

    def _carry_out(self, plan: NodePlan, configs: dict[str, LauncherConfigView]) -> None:
        for pair in plan.pairs.values():
            key = pair.key
            lc = configs.get(pair.lc)
            for view, reason in pair.delete:
                try:
                    self.port.delete_pod(view.name, view.uid, view.resource_version)
                except PortNotFound:
                    continue
                except PortConflict as exc:  # e.g. bound since we read it: look again
                    log.info("populator: not deleting launcher %s (%s): %s", view.name, reason, exc)
                    self._redo(pair.node)
                    continue
                except Exception as exc:
                    log.warning("populator: delete launcher %s failed: %s", view.name, exc)
                    self._redo(pair.node)
                    continue
                self.expectations.expect_delete(key, view.uid, view.name)
                log.info("populator: deleted %s launcher %s on node %s (LauncherConfig %s)",
                         reason, view.name, pair.node, pair.lc)
            created = []
            for _ in range(pair.create):
                assert lc is not None
                try:
                    pod = self.port.create_pod(build_launcher_pod(lc, pair.node, self.namespace))
                except Exception as exc:
                    log.warning("populator: create launcher for %s on node %s failed: %s", pair.lc, pair.node, exc)
                    self._redo(pair.node)
                    break
                name = pod["metadata"]["name"]
                self.expectations.expect_create(key, name)
                created.append(name)
                log.info("populator: created launcher %s on node %s (LauncherConfig %s)", name, pair.node, pair.lc)
            for view, reason, message in pair.mark:
                if self._label(view, "true"):
                    self.port.record_event(self._pod_obj(view), N.EVENT_STUCK, message, "Warning")
                    self._record(pair, "launcher_stuck", {"pod": view.name, "reason": reason, "message": message})
            for view in pair.unmark:
                if self._label(view, None):
                    self._record(pair, "launcher_recovered", {"pod": view.name})
            self._record_decision(pair, created)

    def _label(self, view: LauncherView, value: str | None) -> bool:
        try:
            self.port.patch_pod_labels(view.name, {N.LABEL_STUCK: value})
            return True
        except PortNotFound:
            return False
        except Exception as exc:
            log.warning("populator: cannot label launcher %s stuck=%s: %s", view.name, value, exc)
            self._redo(view.node)
            return False

    def _pod_obj(self, view: LauncherView) -> Obj:
        with self._lock:
            pod = self.cache["pods"].get(view.name)
        return pod or {"kind": "Pod", "metadata": {"name": view.name, "uid": view.uid}}

    def _redo(self, node: str) -> None:
        with self._lock:
            self._dirty.add(node)

    # ---- the pair's lifecycle (the decisions, as events) ------------------------------
    def _machine(self, pair: PairPlan) -> PairLifecycle:
        m = self._pairs.get(pair.key)
        if m is None:
            actor = pair_actor(self.namespace, pair.node, pair.lc)
            if self.log is not None:
                m = rebuild(PairLifecycle, list(self.log.read(actor=actor)))  # type: ignore[assignment]
            else:
                m = PairLifecycle()
            self._pairs[pair.key] = m  # type: ignore[assignment]
        return m  # type: ignore[return-value]

    def _record(self, pair: PairPlan, trigger: str, data: dict[str, Any]) -> None:
        m = self._machine(pair)
        step = m.handle(trigger, data)
        if self.log is not None:
            actor = pair_actor(self.namespace, pair.node, pair.lc)
            for ev in step.events:
                self.log.append(actor, m.name, ev.name, ev.src, ev.dst, ev.data)

    def _record_decision(self, pair: PairPlan, created: list[str]) -> None:
        m = self._machine(pair)
        base = {"desired": pair.desired, "actual": pair.actual}
        if pair.blocked is not None:
            if m.state is not PairState.BLOCKED or m.ctx.get("reason") != pair.blocked:
                self._record(pair, "blocked", {**base, "reason": pair.blocked})
        elif pair.delete:
            self._record(pair, "scale_down", {**base, "held": False, "pods": {v.name: r for v, r in pair.delete}})
        elif created:
            self._record(pair, "scale_up", {**base, "held": False, "create": len(created), "pods": created})
        elif pair.held:
            if m.state is not PairState.SCALING or not m.ctx.get("held"):
                self._record(pair, "hold", {**base, "held": True})
        elif pair.converged:
            if pair.desired == 0 and m.state is not PairState.IDLE:
                self._record(pair, "emptied", base)
            elif pair.desired > 0 and m.state is not PairState.STEADY:
                self._record(pair, "converged", base)

    # ---- CR status: errors users must see ----------------------------------------------
    def _write_statuses(self, policies: list[Policy], configs: dict[str, LauncherConfigView]) -> None:
        for pol in policies:
            errors = list(pol.errors) + [
                f"LauncherConfig {lc} not found" for lc in sorted(pol.counts) if lc not in configs]
            self._status("launcherpopulationpolicies", pol.name, pol.generation, errors, N.EVENT_BAD_POLICY)
        for lc in configs.values():
            self._status("launcherconfigs", lc.name, lc.generation, list(lc.errors), N.EVENT_BAD_CONFIG)

    def _status(self, kind: str, name: str, generation: int, errors: list[str], reason: str) -> None:
        with self._lock:
            obj = self.cache[kind].get(name)
        if obj is None:
            return
        have = obj.get("status") or {}
        want = (generation, tuple(errors))
        if (int(have.get("observedGeneration") or 0), tuple(have.get("errors") or ())) == want:
            self._status_sent[(kind, name)] = want
            return
        if self._status_sent.get((kind, name)) == want:
            return  # written; the watch has not shown it yet
        status: Obj = {"observedGeneration": generation}
        if errors:
            status["errors"] = errors
        try:
            self.port.update_status(kind, name, status)
        except Exception as exc:
            log.warning("populator: cannot write status of %s %s: %s", kind, name, exc)
            return
        self._status_sent[(kind, name)] = want
        if errors:
            log.warning("populator: %s %s: %s", kind, name, "; ".join(errors))
            self.port.record_event(obj, reason, "; ".join(errors), "Warning")

    # ---- the loop ----------------------------------------------------------------------
    def start(self, sync_timeout: float = 30.0) -> None:
        """Watch, wait until every informer has listed (deciding on a half-filled cache
        would, e.g., report a LauncherConfig as missing), then run the loop."""
        self.port.watch(self.on_event)
        wait = getattr(self.port, "wait_synced", None)
        if wait is not None and not wait(sync_timeout):
            log.warning("populator: informers not synced after %.0fs; starting anyway", sync_timeout)
        self._thread = threading.Thread(target=self._run, name="populator", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                due = self.reconcile()
            except Exception:
                log.exception("populator: reconcile pass failed; retrying in 1s")
                due = self.clock() + 1.0
            timeout = None if due is None else max(due - self.clock(), 0.0) + 0.01
            self._wake.wait(timeout)
            self._wake.clear()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self.port.stop()
        if self._thread is not None:
            self._thread.join(timeout=5)
