"""Random node/policy/LauncherConfig changes, pod failures, bindings and slow watches
against the populator on the in-memory port.

Invariants: a bound launcher is never deleted; after every pass no pair has more pending
creates than its deficit; and at quiescence every pair whose LauncherConfig is usable has
exactly its desired launchers, all of the current template (bound surplus excepted:
desired = max(policy, bound)).
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from fma.controllers.populator import names as N
from fma.controllers.populator.controller import Populator
from fma.controllers.populator.memport import MemoryPort, make_lc, make_lpp, make_node
from fma.controllers.populator.policy import desired_counts, node_view, parse_policy
from fma.controllers.populator.stuck import Thresholds
from fma.controllers.populator.template import parse_launcher_config
from fma.events import MemoryLog
from fma.events.fold import fold_log
from tests.support import examples

NODES = ["n1", "n2", "n3"]
LCS = ["a", "b"]


class Clock:
    t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


class PopulatorSequences(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock()
        self.port = MemoryPort("ns", clock=self.clock)
        self.log = MemoryLog()
        self.pop = Populator(self.port, clock=self.clock, event_log=self.log,
                             thresholds=Thresholds(120, 450), expectation_ttl=60)
        self.violations: list[str] = []
        real_delete = self.port.delete_pod

        def checked_delete(name: str, uid: str, rv: str) -> None:
            pod = self.port.get("pods", name)
            real_delete(name, uid, rv)  # raises on a stale precondition: nothing deleted
            if pod is None or N.ANN_REQUESTER in (pod["metadata"].get("annotations") or {}):
                self.violations.append(f"bound launcher {name} was deleted")

        real_create = self.port.create_pod

        def checked_create(body: dict[str, Any]) -> dict[str, Any]:
            # The API's truth at the moment of a create: the pair must really be short.
            labels = body["metadata"]["labels"]
            node, lc = labels[N.LABEL_NODE], labels[N.LABEL_LAUNCHER_CONFIG]
            pair = self.pop.plans[node].pairs[lc]
            doomed = {v.name for v, _ in pair.delete}
            current = body["metadata"]["annotations"][N.ANN_TEMPLATE_HASH]
            there = [p for p in self.port.pods() if p["metadata"]["labels"][N.LABEL_NODE] == node
                     and p["metadata"]["labels"][N.LABEL_LAUNCHER_CONFIG] == lc
                     and p["metadata"]["name"] not in doomed
                     and (N.ANN_REQUESTER in (p["metadata"].get("annotations") or {})
                          or (p["metadata"]["annotations"][N.ANN_TEMPLATE_HASH] == current
                              and (p.get("status") or {}).get("phase") != "Failed"))]
            if len(there) >= pair.desired:  # (the populator logs and swallows errors of writes)
                self.violations.append(f"create for {node}/{lc} with {len(there)} of {pair.desired} there")
            return real_create(body)

        self.port.delete_pod = checked_delete  # type: ignore[method-assign]
        self.port.create_pod = checked_create  # type: ignore[method-assign]
        self.port.watch(self.pop.on_event)

    @initialize()
    def a_running_cluster(self) -> None:
        self.port.put("nodes", make_node("n1", {"gpu": "true"}))
        self.port.put("nodes", make_node("n2", {"gpu": "true"}, gpus=2))
        for lc in LCS:
            self.port.put("launcherconfigs", make_lc(lc, image="launcher:1"))
        self.port.put("launcherpopulationpolicies", make_lpp("p", {"a": 1, "b": 2}, {"gpu": "true"}))
        self.quiesce()

    # ---- the world changes -----------------------------------------------------------
    @rule(name=st.sampled_from(NODES), gpu=st.booleans(), gpus=st.integers(0, 8))
    def put_node(self, name: str, gpu: bool, gpus: int) -> None:
        self.port.put("nodes", make_node(name, {"gpu": str(gpu).lower()}, gpus=gpus))

    @rule(name=st.sampled_from(NODES))
    def remove_node(self, name: str) -> None:
        self.port.remove("nodes", name)

    @rule(name=st.sampled_from(["p", "q"]), counts=st.dictionaries(st.sampled_from(LCS), st.integers(0, 3), min_size=1),
          gpu_only=st.booleans(), min_gpus=st.none() | st.integers(0, 8))
    def put_policy(self, name: str, counts: dict[str, int], gpu_only: bool, min_gpus: int | None) -> None:
        res = {"nvidia.com/gpu": {"min": str(min_gpus)}} if min_gpus is not None else None
        self.port.put("launcherpopulationpolicies", make_lpp(name, counts, {"gpu": "true"} if gpu_only else {}, res))

    @rule(name=st.sampled_from(["p", "q"]))
    def remove_policy(self, name: str) -> None:
        self.port.remove("launcherpopulationpolicies", name)

    @rule(lc=st.sampled_from(LCS), version=st.integers(1, 3), valid=st.booleans())
    def put_launcher_config(self, lc: str, version: int, valid: bool) -> None:
        obj = make_lc(lc, image=f"launcher:{version}")
        if not valid:
            obj["spec"]["podTemplate"]["spec"]["containers"][0]["name"] = "wrong"
        self.port.put("launcherconfigs", obj)

    @rule(lc=st.sampled_from(LCS))
    def remove_launcher_config(self, lc: str) -> None:
        self.port.remove("launcherconfigs", lc)

    @rule(data=st.data(), what=st.sampled_from(["fail", "vanish", "ready", "unready", "unscheduled", "bind", "unbind"]))
    def touch_launcher(self, data: st.DataObject, what: str) -> None:
        pods = sorted(p["metadata"]["name"] for p in self.port.pods())
        if not pods:
            return
        name = data.draw(st.sampled_from(pods), label="pod")
        if what == "fail":
            self.port.set_pod_status(name, phase="Failed", ready=False)
        elif what == "vanish":
            self.port.remove("pods", name)
        elif what in ("ready", "unready"):
            self.port.set_pod_status(name, scheduled=True, ready=what == "ready")
        elif what == "unscheduled":
            self.port.set_pod_status(name, scheduled=False)
        elif what == "bind":
            self.port.bind(name, f"r-{name}")
        else:
            self.port.unbind(name)

    @rule(n=st.integers(0, 6))
    def deliver_some_watch_events(self, n: int) -> None:
        self.port.deliver(n)

    @rule(secs=st.sampled_from([1, 30, 130, 500]))
    def time_passes(self, secs: int) -> None:
        self.clock.t += secs

    @rule(resync=st.booleans())
    def reconcile(self, resync: bool) -> None:
        if resync:  # a periodic resync: every node is looked at again
            self.pop._all = True
        self.pop.reconcile()
        self._check_pending_within_deficit()

    # ---- checks ------------------------------------------------------------------------
    def _check_pending_within_deficit(self) -> None:
        for plan in self.pop.plans.values():
            for pair in plan.pairs.values():
                if not pair.create:
                    continue
                kept = pair.present - len(pair.delete)
                assert pair.pending_creates + pair.create <= max(pair.desired - kept, 0), pair

    def _truth(self) -> dict[tuple[str, str], int]:
        policies = [parse_policy(o) for o in self.port.objects["launcherpopulationpolicies"].values()]
        nodes = [node_view(o) for o in self.port.objects["nodes"].values()]
        return desired_counts(policies, nodes)

    @invariant()
    def no_double_create_and_no_bound_deletion(self) -> None:
        assert not self.violations, self.violations

    @invariant()
    def lifecycle_log_folds(self) -> None:
        fold_log(self.log.read())  # strict: every recorded decision is a legal transition

    def quiesce(self) -> None:
        for _ in range(30):
            self.port.deliver()
            self.pop.reconcile()
            self._check_pending_within_deficit()
            if self.port.pending_events() == 0:
                self.pop.reconcile()
                if self.port.pending_events() == 0:
                    return
        raise AssertionError("populator never went quiet")

    def teardown(self) -> None:
        self.quiesce()
        want = self._truth()
        configs = {o["metadata"]["name"]: parse_launcher_config(o) for o in self.port.objects["launcherconfigs"].values()}
        have: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for p in self.port.pods():
            labels = p["metadata"]["labels"]
            have.setdefault((labels[N.LABEL_NODE], labels[N.LABEL_LAUNCHER_CONFIG]), []).append(p)
        for key in set(want) | set(have):
            lc = configs.get(key[1])
            if lc is None or not lc.ok:
                continue  # blocked pairs are left alone
            pods = have.get(key, [])
            bound = [p for p in pods if N.ANN_REQUESTER in (p["metadata"].get("annotations") or {})]
            unbound = [p for p in pods if p not in bound]
            assert len(pods) == max(want.get(key, 0), len(bound)), (key, len(pods), want.get(key), len(bound))
            for p in unbound:
                assert p["metadata"]["annotations"][N.ANN_TEMPLATE_HASH] == lc.template_hash, key
                assert (p.get("status") or {}).get("phase") != "Failed", key


PopulatorSequences.TestCase.settings = settings(
    max_examples=examples(60), stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TestPopulatorSequences = PopulatorSequences.TestCase
