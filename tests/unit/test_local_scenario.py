"""fma local scenarios, start-kind observation and the summary's shape."""

from __future__ import annotations

import pytest

from fma.local import podspecs, report
from fma.local.observe import ControllerStarts, Observer, Requester
from fma.local.runner import RunResult, ScenarioFailed, ScenarioRunner
from fma.local.scenario import ScenarioError, builtin_names, load, parse

P = "dual-pods.llm-d.ai/"


def test_builtin_scenarios_load_and_demo_expects_cold_hot_and_warm_starts() -> None:
    assert {"demo", "churn", "swap"} <= set(builtin_names())
    for name in builtin_names():
        assert load(name).steps
    demo = load("demo")
    expects = [(s.mode, s.expect) for s in demo.steps if s.op == "create"]
    assert ("direct", "cold") in expects and ("direct", "hot") in expects
    assert {("launcher", "warm"), ("launcher", "hot")} <= set(expects)
    assert demo.launchers == {"per_node": 2, "node_selector": {"kubernetes.io/hostname": "node-0"}}
    swap = load("swap")
    assert swap.gpus_per_node == 1 and len(set(swap.models.values())) > swap.gpus_per_node   # more models than GPUs
    churn = load("churn")
    # a launcher serves one requester at a time: the populator keeps one per concurrent requester
    assert churn.launchers["per_node"] >= 4 and churn.nodes == 1


def test_the_direct_scenario_never_runs_two_model_servers_at_once_so_real_vllm_fits_on_a_laptop() -> None:
    sc = load("direct")
    assert not sc.launchers and (sc.nodes, sc.gpus_per_node) == (1, 1)
    assert [s.expect for s in sc.steps if s.op == "create"] == ["cold", "hot"]
    live: set[str] = set()
    for s in sc.steps:
        if s.op == "create":
            assert not live, f"{s.name} created while {live} still run"
            live.add(s.name)
        elif s.op == "delete":
            live.discard(s.name)
    cold_wait = next(s for s in sc.steps if s.op == "wait" and s.until == "ready")
    assert cold_wait.timeout >= 300   # vLLM on two busy CPU cores can take 90 s and more


def test_repeat_expands_names_per_iteration() -> None:
    sc = parse({"steps": [{"repeat": {"times": 2, "steps": [{"create": "r{i}", "model": "m"}, {"wait": "ready"}]}}]})
    assert sc.requester_names() == ["r0", "r1"]


@pytest.mark.parametrize("doc, msg", [
    ({"steps": [{"create": "a"}]}, "needs a model"),
    ({"steps": [{"create": "a", "model": "m", "mode": "x"}]}, "mode must be"),
    ({"steps": [{"wait": "later"}]}, "wait must be"),
    ({"steps": [{"create": "a", "model": "m"}, {"create": "a", "model": "m"}]}, "created twice"),
    ({"steps": [{"jump": 1}]}, "a step is one of"),
    ({"steps": []}, "no steps"),
])
def test_bad_scenarios_are_refused_with_the_step_named(doc: dict, msg: str) -> None:
    with pytest.raises(ScenarioError, match=msg):
        parse(doc, "s.yaml")


def test_unknown_scenario_lists_the_builtins() -> None:
    with pytest.raises(ScenarioError, match="built-ins are"):
        load("no-such-scenario")


def pod(name: str, uid: str = "u", ready: bool = False, **labels: str) -> dict:
    return {"metadata": {"name": name, "uid": uid, "labels": {P + k: v for k, v in labels.items()}},
            "spec": {"nodeName": "node-0"},
            "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def test_direct_start_is_hot_when_the_provider_existed_before_the_requester_else_cold() -> None:
    t = [0.0]
    obs = Observer(clock=lambda: t[0])
    obs.expect_requester(Requester("r1", "direct", "m", 1, created=0.0))
    obs.on_pod("ADDED", pod("r1"))
    t[0] = 1
    obs.on_pod("ADDED", pod("r1-dual-x"))
    t[0] = 5
    obs.on_pod("MODIFIED", pod("r1", ready=True, dual="r1-dual-x"))
    assert obs.requesters["r1"].start == "cold" and obs.requesters["r1"].ready_seconds == 5
    obs.on_pod("MODIFIED", pod("r1-dual-x", sleeping="true"))
    t[0] = 10
    obs.expect_requester(Requester("r2", "direct", "m", 1, created=10.0))
    t[0] = 10.5
    obs.on_pod("MODIFIED", pod("r2", uid="u2", ready=True, dual="r1-dual-x"))
    assert obs.requesters["r2"].start == "hot"
    assert obs.sleeps == 1


def test_launcher_start_is_cold_for_a_new_launcher_warm_for_a_new_instance_hot_for_a_known_one() -> None:
    t = [0.0]
    obs = Observer(clock=lambda: t[0])
    obs.expect_requester(Requester("a", "launcher", "m", 1, created=0.0))
    t[0] = 1
    obs.on_pod("ADDED", pod("launcher-x"))
    obs.on_pod("MODIFIED", pod("a", ready=True, dual="launcher-x", instance="I1"))
    t[0] = 2
    obs.expect_requester(Requester("b", "launcher", "m2", 1, created=2.0))
    obs.on_pod("MODIFIED", pod("b", ready=True, dual="launcher-x", instance="I2"))
    t[0] = 3
    obs.expect_requester(Requester("c", "launcher", "m", 1, created=3.0))
    obs.on_pod("MODIFIED", pod("c", ready=True, dual="launcher-x", instance="I1"))
    assert [obs.requesters[n].start for n in "abc"] == ["cold", "warm", "hot"]
    assert obs.counts() == {"hot": 1, "warm": 1, "cold": 1}


def test_json_summary_has_requesters_start_kinds_and_gpu_seconds() -> None:
    rs = [Requester("a", "direct", "m", 1, created=0.0, ready_at=4.0, deleted_at=6.0, gone_at=7.0, start="cold"),
          Requester("b", "direct", "m", 1, created=8.0, ready_at=8.5, start="hot", expect="hot")]
    s = report.summary(RunResult("demo", "sim", 0.0, 10.0, rs, sleeps=1))
    assert s["requesters"][0] == {"name": "a", "mode": "direct", "model": "m", "gpus": 1, "node": "", "start": "cold",
                                  "expected_start": None, "ready_seconds": 4.0, "provider": None, "instance": None,
                                  "gpu_seconds": 7.0}
    assert s["requesters"][1]["gpu_seconds"] == 2.0      # still held at the end of the run
    assert s["starts"] == {"hot": 1, "warm": 0, "cold": 1} and s["wakes"] == 1 and s["sleeps"] == 1
    assert s["gpu_seconds"] == {"requested": 9.0, "serving": 3.5, "always_on": 10.0, "saved_vs_always_on": 0.1}
    assert s["ok"] is True


def test_requester_pods_carry_the_fma_annotations_and_bind_their_pod_ip() -> None:
    d = podspecs.requester_pod("r", mode="direct", engine="sim", model="m", gpus=2, port=8000, time_scale=10)
    ann = d["metadata"]["annotations"]
    assert P + "server-patch" in ann and "$(POD_IP)" in ann[P + "server-patch"]
    c = d["spec"]["containers"][0]
    assert c["resources"]["limits"]["nvidia.com/gpu"] == "2" and "$(POD_IP)" in c["args"]
    lm = podspecs.requester_pod("r", mode="launcher", engine="sim", model="m", gpus=1, port=8005, time_scale=10,
                                isc="isc-m")
    assert lm["metadata"]["annotations"][P + "inference-server-config"] == "isc-m"
    isc = podspecs.isc("Qwen/Qwen3-8B", 8005, "sim", 10)
    assert isc["spec"]["modelServerConfig"]["port"] == 8005 and "--model Qwen/Qwen3-8B" in isc["spec"]["modelServerConfig"]["options"]
    # a launcher's instances skip the imports its zygote already did: a shorter modelled init than a cold pod's
    assert "--init-seconds 8" in isc["spec"]["modelServerConfig"]["options"]
    assert "--init-seconds" not in ann[P + "server-patch"]


def test_a_bad_launchers_section_is_refused_with_the_scenario_named() -> None:
    import pytest

    from fma.local.scenario import ScenarioError, parse

    with pytest.raises(ScenarioError, match="my.yaml: `launchers`"):
        parse({"steps": [{"create": "a", "model": "m"}], "launchers": {"per_node": "two"}}, "my.yaml")


def test_the_controllers_bind_decision_names_the_start_an_instance_recreated_with_its_old_id_is_warm(tmp_path) -> None:
    from fma.events import FileLog

    log = FileLog(tmp_path / "controller-events.log")
    log.append("binding/ns/a", "binding", "bind", "unbound", "binding", {"provider": "l", "start": "warm"})
    log.append("binding/ns/c", "binding", "bind", "unbound", "binding", {"provider": "l", "start": "evict"})
    log.append("binding/other/c", "binding", "bind", "unbound", "binding", {"provider": "l", "start": "hot"})
    starts = ControllerStarts(str(tmp_path / "controller-events.log"), "ns")
    t = [0.0]
    obs = Observer(clock=lambda: t[0], decided_start=starts)
    obs.on_pod("ADDED", pod("launcher-x"))
    t[0] = 1
    for name in "ac":
        obs.expect_requester(Requester(name, "launcher", "m", 1, created=t[0]))
        obs.on_pod("MODIFIED", pod(name, uid=name, ready=True, dual="launcher-x", instance="I1"))
        t[0] += 1
    # from pods alone c (same instance id as a) would look hot; the controller evicted and recreated it
    assert [obs.requesters[n].start for n in "ac"] == ["warm", "warm"]
    assert ControllerStarts(str(tmp_path / "missing.log"), "ns")("a") is None


class _Cluster:
    dir = "/nowhere"
    opts = type("Opts", (), {"namespace": "ns"})()
    state = None


def test_a_wait_for_ready_ends_at_once_on_a_lasting_controller_status_error() -> None:
    from fma.local.scenario import Step

    sc = parse({"name": "t", "steps": [{"create": "r", "mode": "direct", "model": "m"}, {"wait": "ready"}]}, "t")
    runner = ScenarioRunner(_Cluster(), sc)
    t = [0.0]
    runner.obs.clock = lambda: t[0]
    runner.obs.expect_requester(Requester("r", "direct", "m", 1, created=0.0))
    runner._touched = ["r"]
    bad = pod("r")
    bad["metadata"]["annotations"] = {P + "status": '{"Errors": ["server-patch is not YAML"]}'}
    runner.obs.on_pod("ADDED", bad)
    t[0] = 6.0  # past the grace
    with pytest.raises(ScenarioFailed, match="server-patch is not YAML"):
        runner._wait(Step(op="wait", until="ready", timeout=300))
