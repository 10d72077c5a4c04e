"""The populator against the in-memory port: scale up and down, outdated first, bound
never deleted, template roll-out as launchers become unbound, stuck detection with a
fake clock, slow watches, and bad LauncherConfigs/policies."""

from __future__ import annotations

import pytest

from fma.controllers.populator import names as N
from fma.controllers.populator.controller import Populator
from fma.controllers.populator.memport import MemoryPort, make_lc, make_lpp, make_node
from fma.controllers.populator.stuck import Thresholds, parse_duration
from fma.events import MemoryLog
from fma.events.fold import fold_log


class Clock:
    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def world():
    clock = Clock()
    port = MemoryPort("ns", clock=clock)
    log = MemoryLog()
    pop = Populator(port, clock=clock, event_log=log, thresholds=Thresholds(120, 450))
    port.watch(pop.on_event)
    return clock, port, pop, log


def settle(port: MemoryPort, pop: Populator, rounds: int = 10) -> None:
    """Reconcile and deliver watch events until nothing changes."""
    for _ in range(rounds):
        before = len(port.calls)
        pop.reconcile()
        port.deliver()
        if len(port.calls) == before and port.pending_events() == 0:
            pop.reconcile()
            if len(port.calls) == before:
                return
    raise AssertionError(f"no quiescence: {port.calls[-10:]}")


def launchers(port: MemoryPort, node: str | None = None, lc: str | None = None) -> list[dict]:
    out = []
    for p in port.pods():
        labels = p["metadata"]["labels"]
        if (node is None or labels[N.LABEL_NODE] == node) and (lc is None or labels[N.LABEL_LAUNCHER_CONFIG] == lc):
            out.append(p)
    return out


def setup(port, count=2, nodes=("n1",), lcs=("lc",)):
    for n in nodes:
        port.put("nodes", make_node(n, {"gpu": "true"}))
    for lc in lcs:
        port.put("launcherconfigs", make_lc(lc))
    port.put("launcherpopulationpolicies", make_lpp("p", {lc: count for lc in lcs}, {"gpu": "true"}))
    port.deliver()


def test_creates_the_desired_launchers_on_each_matching_node(world) -> None:
    _, port, pop, log = world
    setup(port, count=2, nodes=("n1", "n2"))
    port.put("nodes", make_node("cpu", {"gpu": "false"}))
    settle(port, pop)
    assert len(launchers(port, "n1")) == 2 and len(launchers(port, "n2")) == 2
    assert launchers(port, "cpu") == []
    states = fold_log(log.read())
    assert states["launcher-pair/ns/n1/lc"].state == "steady"


def test_scale_down_deletes_surplus_and_scale_to_zero_empties_the_pair(world) -> None:
    _, port, pop, log = world
    setup(port, count=3)
    settle(port, pop)
    port.put("launcherpopulationpolicies", make_lpp("p", {"lc": 1}, {"gpu": "true"}))
    settle(port, pop)
    assert len(launchers(port)) == 1
    port.remove("launcherpopulationpolicies", "p")
    settle(port, pop)
    assert launchers(port) == []
    assert fold_log(log.read())["launcher-pair/ns/n1/lc"].state == "idle"


def test_unbound_launcher_holding_instances_is_not_surplus(world) -> None:
    """A launcher the dual-pods controller used (or made, cold) keeps its sleepers when it
    is unbound: deleting it would turn the next hot start cold. The launcher says what it
    holds in its vllm-instance-signature annotation."""
    import copy

    from fma.controllers.populator.launchers import launcher_view

    _, port, pop, _ = world
    setup(port, count=2)
    settle(port, pop)
    a, b = sorted(p["metadata"]["name"] for p in launchers(port))
    pod = copy.deepcopy(port.objects["pods"][a])
    pod["metadata"]["annotations"][N.ANN_INSTANCE_SIGNATURE] = "ab" * 32   # one sleeping instance
    port.put("pods", pod)
    port.deliver()
    assert launcher_view(port.objects["pods"][a]).holds_instances
    port.put("launcherpopulationpolicies", make_lpp("p", {"lc": 0}, {"gpu": "true"}))
    settle(port, pop)
    assert [p["metadata"]["name"] for p in launchers(port)] == [a]     # b (empty) was surplus, a is kept
    pod = copy.deepcopy(port.objects["pods"][a])
    pod["metadata"]["annotations"][N.ANN_INSTANCE_SIGNATURE] = N.EMPTY_SIGNATURE  # its sleepers are gone
    port.put("pods", pod)
    port.deliver()
    settle(port, pop)
    assert launchers(port) == []


def test_launcher_pods_get_their_own_name_and_namespace_for_the_instance_signature(world) -> None:
    _, port, pop, _ = world
    setup(port, count=1)
    settle(port, pop)
    env = {e["name"]: e for e in launchers(port)[0]["spec"]["containers"][0]["env"]}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"


def test_surplus_deletion_prefers_unscheduled_then_not_ready(world) -> None:
    _, port, pop, _ = world
    setup(port, count=3)
    settle(port, pop)
    names = sorted(p["metadata"]["name"] for p in launchers(port))
    port.set_pod_status(names[0], scheduled=True, ready=True)
    port.set_pod_status(names[1], scheduled=True, ready=False)
    port.set_pod_status(names[2], scheduled=False)
    port.deliver()
    port.put("launcherpopulationpolicies", make_lpp("p", {"lc": 2}, {"gpu": "true"}))
    settle(port, pop)
    assert sorted(p["metadata"]["name"] for p in launchers(port)) == names[:2]
    port.put("launcherpopulationpolicies", make_lpp("p", {"lc": 1}, {"gpu": "true"}))
    settle(port, pop)
    assert [p["metadata"]["name"] for p in launchers(port)] == names[:1]


def test_bound_launcher_is_never_deleted_and_counts_as_desired(world) -> None:
    _, port, pop, _ = world
    setup(port, count=2)
    settle(port, pop)
    a, b = sorted(p["metadata"]["name"] for p in launchers(port))
    port.bind(a, "r1")
    port.bind(b, "r2")
    port.put("launcherpopulationpolicies", make_lpp("p", {"lc": 0}, {"gpu": "true"}))
    settle(port, pop)
    assert sorted(p["metadata"]["name"] for p in launchers(port)) == [a, b]
    assert pop.plans["n1"].pairs["lc"].desired == 2
    port.unbind(b)
    settle(port, pop)
    assert [p["metadata"]["name"] for p in launchers(port)] == [a]


def test_outdated_launchers_go_first_and_are_replaced(world) -> None:
    _, port, pop, _ = world
    setup(port, count=2)
    settle(port, pop)
    old = {p["metadata"]["name"] for p in launchers(port)}
    port.put("launcherconfigs", make_lc("lc", image="fma-launcher:2"))
    settle(port, pop)
    now = launchers(port)
    assert len(now) == 2 and not ({p["metadata"]["name"] for p in now} & old)
    assert {p["spec"]["containers"][0]["image"] for p in now} == {"fma-launcher:2"}


def test_outdated_surplus_is_deleted_before_current_ones(world) -> None:
    _, port, pop, _ = world
    setup(port, count=2)
    settle(port, pop)
    old = {p["metadata"]["name"] for p in launchers(port)}
    port.bind(sorted(old)[0])
    port.put("launcherconfigs", make_lc("lc", image="fma-launcher:2"))
    settle(port, pop)  # bound old one stays, one new one joins it
    names = {p["metadata"]["name"] for p in launchers(port)}
    assert sorted(old)[0] in names and len(names) == 2


def test_template_change_rolls_a_bound_launcher_once_it_is_unbound(world) -> None:
    _, port, pop, _ = world
    setup(port, count=1)
    settle(port, pop)
    (first,) = [p["metadata"]["name"] for p in launchers(port)]
    port.bind(first)
    port.put("launcherconfigs", make_lc("lc", image="fma-launcher:2"))
    settle(port, pop)
    assert [p["metadata"]["name"] for p in launchers(port)] == [first]
    port.unbind(first)
    settle(port, pop)
    (second,) = launchers(port)
    assert second["metadata"]["name"] != first and second["spec"]["containers"][0]["image"] == "fma-launcher:2"


def test_creates_wait_until_deletions_on_the_node_have_landed(world) -> None:
    _, port, pop, _ = world
    setup(port, count=1)
    settle(port, pop)
    port.put("launcherconfigs", make_lc("lc", image="fma-launcher:2"))
    port.deliver()
    pop.reconcile()
    assert [v for v, _ in port.calls[-1:]] == ["delete"]
    pop.reconcile()  # the DELETED event has not arrived: still no create
    assert [v for v, _ in port.calls[-1:]] == ["delete"]
    assert pop.plans["n1"].pairs["lc"].held
    port.deliver()
    pop.reconcile()
    assert [v for v, _ in port.calls[-1:]] == ["create"]


def test_slow_watch_never_causes_a_second_create(world) -> None:
    _, port, pop, _ = world
    setup(port, count=2)
    for _ in range(5):
        pop._all = True  # as after a resync: every node is planned again
        pop.reconcile()  # the watch delivers nothing meanwhile
    assert [v for v, _ in port.calls].count("create") == 2
    port.deliver()
    pop.reconcile()
    assert [v for v, _ in port.calls].count("create") == 2 and len(launchers(port)) == 2


def test_lost_watch_event_expires_and_the_pair_is_repaired(world) -> None:
    clock, port, pop, _ = world
    setup(port, count=1)
    pop.reconcile()
    (name,) = [n for v, n in port.calls if v == "create"]
    port._queue.clear()  # the ADDED event is lost ...
    port.remove("pods", name)  # ... and the pod is gone behind our back, unseen
    port._queue.clear()
    pop.reconcile()
    assert [v for v, _ in port.calls].count("create") == 1
    clock.t += 61
    pop.reconcile()
    assert [v for v, _ in port.calls].count("create") == 2


def test_delete_refused_because_the_launcher_was_bound_meanwhile_is_not_retried_blindly(world) -> None:
    _, port, pop, _ = world
    setup(port, count=1)
    settle(port, pop)
    (name,) = [p["metadata"]["name"] for p in launchers(port)]
    port.put("launcherpopulationpolicies", make_lpp("p", {"lc": 0}, {"gpu": "true"}))
    port.deliver()
    port.bind(name)  # bound in the API, not yet in the populator's cache
    pop.reconcile()
    assert launchers(port) and ("delete", name) not in port.calls
    settle(port, pop)
    assert [p["metadata"]["name"] for p in launchers(port)] == [name]


def test_launcher_unscheduled_past_the_threshold_is_marked_stuck_once(world) -> None:
    clock, port, pop, log = world
    setup(port, count=1)
    settle(port, pop)
    (name,) = [p["metadata"]["name"] for p in launchers(port)]
    due = pop.reconcile()
    assert due is not None and due <= clock.t + 120
    clock.t += 119
    settle(port, pop)
    assert N.LABEL_STUCK not in port.get("pods", name)["metadata"]["labels"]
    clock.t += 1
    settle(port, pop)
    assert port.get("pods", name)["metadata"]["labels"][N.LABEL_STUCK] == "true"
    assert [(e["type"], e["reason"], e["name"]) for e in port.events if e["reason"] == N.EVENT_STUCK] == \
        [("Warning", "LauncherStuck", name)]
    assert "stuck_scheduling" in port.events[-1]["message"]
    clock.t += 600
    settle(port, pop)
    assert len([e for e in port.events if e["reason"] == N.EVENT_STUCK]) == 1
    assert len(launchers(port)) == 1, "a stuck launcher is kept, not replaced"
    assert [r.event for r in log.read(actor="launcher-pair/ns/n1/lc")].count("launcher_stuck") == 1


def test_launcher_not_ready_past_the_starting_threshold_is_stuck_and_recovery_clears_it(world) -> None:
    clock, port, pop, log = world
    setup(port, count=1)
    settle(port, pop)
    (name,) = [p["metadata"]["name"] for p in launchers(port)]
    port.set_pod_status(name, scheduled=True, ready=False)
    settle(port, pop)
    clock.t += 449
    settle(port, pop)
    assert N.LABEL_STUCK not in port.get("pods", name)["metadata"]["labels"]
    clock.t += 1
    settle(port, pop)
    assert port.get("pods", name)["metadata"]["labels"][N.LABEL_STUCK] == "true"
    assert "stuck_starting" in port.events[-1]["message"]
    port.set_pod_status(name, scheduled=True, ready=True)
    settle(port, pop)
    assert N.LABEL_STUCK not in port.get("pods", name)["metadata"]["labels"]
    events = [r.event for r in log.read(actor="launcher-pair/ns/n1/lc")]
    assert events[-2:] == ["launcher_stuck", "launcher_recovered"]


def test_missing_launcher_config_leaves_the_pair_alone_and_says_so(world) -> None:
    _, port, pop, log = world
    setup(port, count=1)
    settle(port, pop)
    port.put("launcherpopulationpolicies", make_lpp("p", {"lc": 1, "ghost": 2}, {"gpu": "true"}))
    settle(port, pop)
    assert launchers(port, lc="ghost") == []
    assert port.get("launcherpopulationpolicies", "p")["status"]["errors"] == ["LauncherConfig ghost not found"]
    assert any(e["reason"] == N.EVENT_BAD_POLICY and "ghost" in e["message"] for e in port.events)
    assert fold_log(log.read())["launcher-pair/ns/n1/ghost"].state == "blocked"


def test_invalid_launcher_config_keeps_its_launchers_and_reports_the_error(world) -> None:
    _, port, pop, _ = world
    setup(port, count=1)
    settle(port, pop)
    before = [p["metadata"]["name"] for p in launchers(port)]
    bad = make_lc("lc")
    bad["spec"]["podTemplate"]["spec"]["containers"][0]["name"] = "oops"
    port.put("launcherconfigs", bad)
    port.put("launcherpopulationpolicies", make_lpp("p", {"lc": 3}, {"gpu": "true"}))
    settle(port, pop)
    assert [p["metadata"]["name"] for p in launchers(port)] == before
    status = port.get("launcherconfigs", "lc")["status"]
    assert "no container named 'inference-server'" in status["errors"][0]
    assert status["observedGeneration"] == port.get("launcherconfigs", "lc")["metadata"]["generation"]
    port.put("launcherconfigs", make_lc("lc"))
    settle(port, pop)
    assert len(launchers(port)) == 3
    assert "errors" not in port.get("launcherconfigs", "lc")["status"]


def test_ended_launcher_pod_is_replaced(world) -> None:
    _, port, pop, _ = world
    setup(port, count=1)
    settle(port, pop)
    (name,) = [p["metadata"]["name"] for p in launchers(port)]
    port.set_pod_status(name, phase="Failed", ready=False)
    settle(port, pop)
    (new,) = launchers(port)
    assert new["metadata"]["name"] != name


def test_restarted_populator_continues_the_pair_lifecycle_from_the_log(world) -> None:
    clock, port, pop, log = world
    setup(port, count=1)
    settle(port, pop)
    again = Populator(port, clock=clock, event_log=log)
    port.stop()
    port.watch(again.on_event)
    port.put("launcherpopulationpolicies", make_lpp("p", {"lc": 2}, {"gpu": "true"}))
    settle(port, again)
    assert len(launchers(port)) == 2
    assert fold_log(log.read())["launcher-pair/ns/n1/lc"].state == "steady"  # strict fold: one history


@pytest.mark.parametrize("text,secs", [("2m", 120), ("7m30s", 450), ("90s", 90), ("1h", 3600), ("450", 450), ("500ms", 0.5)])
def test_thresholds_parse_like_go_durations(text: str, secs: float) -> None:
    assert parse_duration(text) == secs


def test_bad_duration_is_refused() -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("soon")


def test_watch_slower_than_the_expectation_timeout_still_never_double_creates(world) -> None:
    clock, port, pop, _ = world
    setup(port, count=2)
    pop.reconcile()
    assert [v for v, _ in port.calls].count("create") == 2
    clock.t += 61  # the watch has still shown nothing: ask the API server instead of assuming
    pop._all = True
    pop.reconcile()
    assert [v for v, _ in port.calls].count("create") == 2
    port.deliver()
    pop.reconcile()
    assert [v for v, _ in port.calls].count("create") == 2 and len(launchers(port)) == 2


def test_the_populator_knows_the_launchers_own_empty_instance_signature_and_annotation() -> None:
    from launcher import podnotifier

    assert N.EMPTY_SIGNATURE == podnotifier.signature([])
    assert N.ANN_INSTANCE_SIGNATURE == podnotifier.ANNOTATION
