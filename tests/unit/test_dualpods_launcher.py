"""BEHAVIOUR.md §3 (launcher mode), one test per rule, on the pure decide + in-memory cluster."""

from __future__ import annotations

import json

from fma.controllers.dualpods import effects as E
from fma.controllers.dualpods import names as N
from fma.controllers.dualpods import pods as P
from fma.controllers.dualpods.decide import decide_requester
from fma.controllers.dualpods.ids import instance_id
from fma.controllers.dualpods.sim import SimCluster
from fma.controllers.dualpods.world import Config

TEMPLATE = {"metadata": {"labels": {"team": "a"}},
            "spec": {"containers": [{"name": "inference-server", "image": "launcher"}]}}


def isc(port: int = 8005, model: str = "m1", lc: str = "lc1", labels=None, annotations=None) -> dict:
    msc = {"port": port, "options": f"--model {model}"}
    if labels:
        msc["labels"] = labels
    if annotations:
        msc["annotations"] = annotations
    return {"metadata": {"name": "x"}, "spec": {"modelServerConfig": msc, "launcherConfigName": lc}}


def cluster(max_instances: int = 2, **cfg) -> SimCluster:
    c = SimCluster(config=Config(**cfg))
    c.add_node("n1", ["G0", "G1"])
    c.world.lcfgs["lc1"] = {"spec": {"maxInstances": max_instances, "podTemplate": TEMPLATE}}
    c.world.iscs["a"] = isc(8005, "m1")
    c.world.iscs["b"] = isc(8006, "m2")
    c.world.iscs["c"] = isc(8007, "m3")
    return c


def launcher_of(c: SimCluster, rname: str) -> dict | None:
    return c.world.bound_to(c.world.pods[rname])


def kinds(c: SimCluster, subject: str) -> list[str]:
    return [d.kind for d in c.log if d.subject == subject]


def cycle(c: SimCluster, rname: str, iscname: str, gpus=("G0",)) -> str:
    """Create a requester, settle, delete it, settle; return its launcher's name."""
    c.tick()
    c.add_requester(rname, "n1", list(gpus), isc=iscname)
    c.settle()
    lname = P.name(launcher_of(c, rname))
    c.tick()
    c.delete(rname)
    c.settle()
    return lname


def test_rule1_requester_names_an_isc_and_a_missing_one_is_a_status_error():
    c = cluster()
    c.add_requester("r1", "n1", ["G0"], isc="nope")
    c.settle()
    assert "InferenceServerConfig nope not found" in P.annotations(c.world.pods["r1"])[N.ANN_STATUS]
    assert c.world.launchers() == []
    c.world.iscs["nope"] = isc()
    c.settle()
    assert launcher_of(c, "r1") is not None
    assert N.ANN_STATUS not in P.annotations(c.world.pods["r1"])


def test_rule1_isc_naming_missing_launcher_config_is_an_error():
    c = cluster()
    c.world.iscs["bad"] = isc(lc="nolc")
    c.add_requester("r1", "n1", ["G0"], isc="bad")
    c.settle()
    assert "LauncherConfig 'nolc'" in P.annotations(c.world.pods["r1"])[N.ANN_STATUS]


def test_rule2_instance_id_is_deterministic_from_config_and_gpus():
    c = cluster()
    c.add_requester("r1", "n1", ["G1", "G0"], isc="a")
    c.settle()
    lp = launcher_of(c, "r1")
    want = instance_id(c.world.iscs["a"]["spec"]["modelServerConfig"], ["G0", "G1"])
    assert P.annotations(lp)[N.ANN_INSTANCE_ID] == want
    assert P.labels(c.world.pods["r1"])[N.LBL_INSTANCE] == want
    assert want in c.world.instances[P.name(lp)]


def test_rule3_cold_creates_a_launcher_bound_at_creation():
    c = cluster()
    c.add_requester("r1", "n1", ["G0"], isc="a")
    d = None
    for _ in range(3):
        c.step()
    assert "cold" in kinds(c, "r1")
    lp = launcher_of(c, "r1")
    assert P.name(lp).startswith("launcher-lc1-")
    assert P.labels(lp)[N.LBL_LAUNCHER_CONFIG] == "lc1" and P.labels(lp)[N.LBL_NODE_NAME] == "n1"
    assert P.labels(lp)[N.LBL_COMPONENT] == "launcher" and P.labels(lp)["team"] == "a"
    assert lp["spec"]["nodeName"] == "n1"
    assert N.ANN_LAUNCHER_CONFIG_HASH in P.annotations(lp)


def test_rule3_hot_wakes_the_sleeping_instance_on_the_same_launcher():
    c = cluster()
    lname = cycle(c, "r1", "a")
    iid = P.annotations(c.world.pods[lname]).get(N.ANN_INSTANCE_ID)
    assert iid is None  # unbound
    (inst,) = c.world.instances[lname].values()
    assert inst.sleeping
    c.add_requester("r2", "n1", ["G0"], isc="a")
    c.settle()
    assert P.name(launcher_of(c, "r2")) == lname
    assert "hot" in kinds(c, "r2")
    (inst,) = c.world.instances[lname].values()
    assert not inst.sleeping
    assert len(c.world.launchers()) == 1


def test_rule3_warm_uses_a_launcher_with_room():
    c = cluster()
    lname = cycle(c, "r1", "a")
    c.add_requester("r2", "n1", ["G0"], isc="b")
    c.settle()
    assert "warm" in kinds(c, "r2")
    assert P.name(launcher_of(c, "r2")) == lname
    assert len(c.world.instances[lname]) == 2
    assert len(c.world.launchers()) == 1


def test_rule3_evict_stops_least_recently_used_sleeper_when_full():
    c = cluster(max_instances=2, sleeper_limit=2)  # two sleepers on G0 are within the limit
    lname = cycle(c, "r1", "a")
    cycle(c, "r2", "b")
    ids_before = set(c.world.instances[lname])
    c.add_requester("r3", "n1", ["G0"], isc="c")
    c.settle()
    assert "evict" in kinds(c, "r3")
    assert P.name(launcher_of(c, "r3")) == lname and len(c.world.launchers()) == 1
    ids_after = set(c.world.instances[lname])
    iid_a = instance_id(c.world.iscs["a"]["spec"]["modelServerConfig"], ["G0"])
    assert iid_a not in ids_after and len(ids_after) == 2 and ids_before - ids_after == {iid_a}


def test_rule3_waits_for_a_starting_launcher_instead_of_creating_another():
    c = cluster()
    c.auto_ready = False
    lname = None
    c.add_requester("r1", "n1", ["G0"], isc="a")
    c.settle()
    lp = launcher_of(c, "r1")
    lname = P.name(lp)
    c.force_delete("r1")  # requester gone; launcher unbound by housekeeping? it is not ready
    lp["metadata"]["annotations"].pop(N.ANN_REQUESTER)
    c.add_requester("r2", "n1", ["G0"], isc="a")
    d = decide_requester(c.world, c.world.pods["r2"])
    assert d.kind == "query"
    c.settle()
    assert "wait" in kinds(c, "r2") and len(c.world.launchers()) == 1
    lp["status"] = {"podIP": "10.5.5.5", "conditions": [{"type": "Ready", "status": "True"}]}
    c.settle()
    assert P.name(launcher_of(c, "r2")) == lname


def test_rule3_busy_launcher_is_never_shared_cold_start_instead():
    c = cluster()
    c.add_requester("r1", "n1", ["G0"], isc="a")
    c.add_requester("r2", "n1", ["G1"], isc="b")
    c.settle()
    assert P.name(launcher_of(c, "r1")) != P.name(launcher_of(c, "r2"))
    assert len(c.world.launchers()) == 2


def test_rule4_instance_is_created_over_the_launcher_api_with_the_isc_options():
    c = cluster()
    c.add_requester("r1", "n1", ["G0"], isc="a")
    c.settle()
    ci = [e for d in c.log for e in d.effects if isinstance(e, E.CreateInstance)]
    assert len(ci) == 1
    assert ci[0].body["options"] == "--model m1 --port 8005" and ci[0].body["gpu_uuids"] == ["G0"]
    assert ci[0].url.endswith(":8001")


def test_rule5_isc_routing_metadata_applied_while_serving_and_removed_at_sleep():
    c = cluster()
    c.world.iscs["a"] = isc(labels={"model": "m1"}, annotations={"route": "r"})
    c.add_requester("r1", "n1", ["G0"], isc="a")
    c.settle()
    lp = launcher_of(c, "r1")
    assert P.labels(lp)["model"] == "m1" and P.annotations(lp)["route"] == "r"
    meta = json.loads(P.annotations(lp)[N.ANN_ISC_ROUTING])
    assert meta == {"labels": {"model": "m1"}, "annotations": {"route": "r"}}
    assert P.annotations(lp)[N.ANN_SERVER_PORT] == "8005"
    assert json.loads(P.annotations(lp)[N.ANN_VLLM_CONFIG])["options"] == "--model m1 --port 8005"
    assert P.labels(c.world.pods["r1"])[N.LBL_DUAL] == P.name(lp)
    lname = P.name(lp)
    c.delete("r1")
    c.settle()
    lp = c.world.pods[lname]
    assert "model" not in P.labels(lp) and "route" not in P.annotations(lp)
    for key in (N.ANN_ISC_ROUTING, N.ANN_INSTANCE_ID, N.ANN_SERVER_PORT, N.ANN_VLLM_CONFIG, N.ANN_REQUESTER):
        assert key not in P.annotations(lp)


def test_rule5_routing_metadata_follows_isc_label_change_while_serving():
    c = cluster()
    c.world.iscs["a"] = isc(labels={"model": "m1"})
    c.add_requester("r1", "n1", ["G0"], isc="a")
    c.settle()
    c.world.iscs["a"]["spec"]["modelServerConfig"]["labels"] = {"tier": "gold"}
    c.settle()
    lp = launcher_of(c, "r1")
    assert "model" not in P.labels(lp) and P.labels(lp)["tier"] == "gold"


def test_rule6_port_clash_with_a_serving_instance_sends_the_request_to_a_new_launcher():
    c = cluster(max_instances=3)
    c.add_requester("r1", "n1", ["G0"], isc="a")
    c.settle()
    lname = P.name(launcher_of(c, "r1"))
    c.world.iscs["a2"] = isc(port=8005, model="other")
    c.add_requester("r2", "n1", ["G1"], isc="a2")
    c.settle()
    assert P.name(launcher_of(c, "r2")) != lname and "cold" in kinds(c, "r2")
    assert len(c.world.instances[lname]) == 1


def test_rule3_a_sleeper_holding_the_port_is_evicted_instead_of_a_cold_start():
    c = cluster(max_instances=3)
    lname = cycle(c, "r1", "a")
    c.world.iscs["a2"] = isc(port=8005, model="other")
    c.add_requester("r2", "n1", ["G0"], isc="a2")
    c.settle()
    assert "evict" in kinds(c, "r2") and "cold" not in kinds(c, "r2")
    assert P.name(launcher_of(c, "r2")) == lname and len(c.world.launchers()) == 1
    iid_a = instance_id(c.world.iscs["a"]["spec"]["modelServerConfig"], ["G0"])
    assert iid_a not in c.world.instances[lname] and len(c.world.instances[lname]) == 1


def test_rule6_max_instances_caps_instances_per_launcher():
    c = cluster(max_instances=1)
    lname = cycle(c, "r1", "a")
    c.add_requester("r2", "n1", ["G0"], isc="b")
    c.settle()
    assert len(c.world.instances[lname]) == 1


def test_rule7_isc_change_deletes_obsolete_sleeping_instances():
    c = cluster()
    lname = cycle(c, "r1", "a")
    assert len(c.world.instances[lname]) == 1
    c.world.iscs["a"]["spec"]["modelServerConfig"]["options"] = "--model m1 --max-model-len 64"
    c.settle()
    assert c.world.instances[lname] == {}


def test_rule7_isc_change_deletes_awake_instance_at_unbind_instead_of_sleep():
    c = cluster()
    c.add_requester("r1", "n1", ["G0"], isc="a")
    c.settle()
    lname = P.name(launcher_of(c, "r1"))
    c.world.iscs["a"]["spec"]["modelServerConfig"]["options"] = "--model m9"
    c.delete("r1")
    d = decide_requester(c.world, c.world.pods["r1"])
    assert d.kind == "unbind" and isinstance(d.effects[0], E.DeleteInstance)
    c.settle()
    assert c.world.instances[lname] == {} and "r1" not in c.world.pods


def test_rule8_instance_that_stops_by_itself_deletes_its_requester():
    c = cluster()
    c.add_requester("r1", "n1", ["G0"], isc="a")
    c.settle()
    lp = launcher_of(c, "r1")
    iid = P.annotations(lp)[N.ANN_INSTANCE_ID]
    c.stop_instance(P.name(lp), iid)
    c.settle()
    assert "r1" not in c.world.pods
    assert "lost" in kinds(c, "r1")
    assert c.world.instances[P.name(lp)] == {}
    assert P.bound_to(c.world.pods[P.name(lp)]) is None


def test_launcher_deleted_while_bound_deletes_requester():
    c = cluster()
    c.add_requester("r1", "n1", ["G0"], isc="a")
    c.settle()
    lname = P.name(launcher_of(c, "r1"))
    c.delete(lname)
    c.settle()
    assert "r1" not in c.world.pods and lname not in c.world.pods


def test_restart_rebinds_to_the_sleeping_instance():
    c = cluster()
    lname = cycle(c, "r1", "a")
    c.world.told_ready.clear()
    c.add_requester("r2", "n1", ["G0"], isc="a")
    c.settle()
    assert P.name(launcher_of(c, "r2")) == lname and "hot" in kinds(c, "r2")


def test_sleeper_limit_per_gpu_counts_launcher_instances_and_stops_the_lru_one():
    c = cluster(max_instances=3, sleeper_limit=1)
    lname = cycle(c, "r1", "a")
    cycle(c, "r2", "b")
    iid_a = instance_id(c.world.iscs["a"]["spec"]["modelServerConfig"], ["G0"])
    iid_b = instance_id(c.world.iscs["b"]["spec"]["modelServerConfig"], ["G0"])
    assert set(c.world.instances[lname]) == {iid_b}  # a slept longest on G0: stopped
    assert any(d.kind == "evict-sleeper" and d.mode == "launcher" for d in c.log)


def test_sleeper_limit_leaves_sleepers_on_other_gpus_alone():
    c = cluster(max_instances=3, sleeper_limit=1)
    lname = cycle(c, "r1", "a", gpus=("G0",))
    cycle(c, "r2", "b", gpus=("G1",))
    assert len(c.world.instances[lname]) == 2
