"""BEHAVIOUR.md §2 (direct mode), one test per rule, on the pure decide + in-memory cluster."""

from __future__ import annotations

import json

import pytest

from fma.controllers.dualpods import effects as E
from fma.controllers.dualpods import names as N
from fma.controllers.dualpods import pods as P
from fma.controllers.dualpods.decide import decide_node, decide_requester
from fma.controllers.dualpods.sim import SimCluster
from fma.controllers.dualpods.world import Config

PATCH = """
spec:
  containers:
  - name: inference-server
    image: vllm
    args: [--model, m1]
    ports: [{containerPort: 8000}]
"""
PATCH2 = PATCH.replace("m1", "m2")


def cluster(**cfg) -> SimCluster:
    c = SimCluster(config=Config(**cfg))
    c.add_node("n1", ["G0", "G1", "G2", "G3"])
    return c


def provider_of(c: SimCluster, rname: str) -> dict | None:
    return c.world.bound_to(c.world.pods[rname])


def providers(c: SimCluster) -> list[dict]:
    return c.world.providers()


def kinds(c: SimCluster, subject: str) -> list[str]:
    return [d.kind for d in c.log if d.subject == subject]


def test_rule1_requester_gpus_are_asked_from_its_stub():
    c = cluster()
    c.add_requester("r1", "n1", ["G0"], patch=PATCH)
    d = decide_requester(c.world, c.world.pods["r1"])
    assert d.kind == "query"
    assert d.effects == (E.QueryAccelerators("r1", f"http://{P.pod_ip(c.world.pods['r1'])}:8081"),)


def test_rule1_requester_without_ip_waits():
    c = cluster()
    c.add_requester("r1", "n1", ["G0"], patch=PATCH, ip=False)
    assert decide_requester(c.world, c.world.pods["r1"]).kind == "wait"


def test_rule2_provider_is_pinned_to_node_and_gpus_with_zero_gpu_request():
    c = cluster()
    c.add_requester("r1", "n1", ["G2", "G1"], patch=PATCH)
    c.settle()
    prov = provider_of(c, "r1")
    assert prov is not None
    assert P.name(prov).startswith("r1-dual-")
    assert prov["spec"]["nodeName"] == "n1"
    (ctr,) = prov["spec"]["containers"]
    assert {"name": "CUDA_VISIBLE_DEVICES", "value": "1,2"} in ctr["env"]
    assert ctr["resources"]["limits"][N.GPU_RESOURCE] == "0"
    assert "cold" in kinds(c, "r1")


def test_rule3_sleeping_provider_is_reused_for_same_config():
    c = cluster()
    c.add_requester("r1", "n1", ["G0"], patch=PATCH)
    c.settle()
    first = P.name(provider_of(c, "r1"))
    c.delete("r1")
    c.settle()
    assert c.world.pods[first]["metadata"]["labels"][N.LBL_SLEEPING] == "true"
    c.add_requester("r2", "n1", ["G0"], patch=PATCH)
    c.settle()
    assert P.name(provider_of(c, "r2")) == first
    assert "hot" in kinds(c, "r2") and "cold" not in kinds(c, "r2")
    assert c.servers[first] is False  # woken
    assert len(providers(c)) == 1


def test_rule3_sleeper_with_other_spec_or_gpus_is_not_reused():
    c = cluster(sleeper_limit=4)
    c.add_requester("r1", "n1", ["G0"], patch=PATCH)
    c.settle()
    c.delete("r1")
    c.settle()
    c.add_requester("r2", "n1", ["G0"], patch=PATCH2)
    c.add_requester("r3", "n1", ["G1"], patch=PATCH)
    c.settle()
    assert "cold" in kinds(c, "r2") and "cold" in kinds(c, "r3")
    assert len(providers(c)) == 3


def test_rule4_binding_is_written_on_provider_and_both_get_finalizers():
    c = cluster()
    r = c.add_requester("r1", "n1", ["G0"], patch=PATCH)
    c.settle()
    prov = provider_of(c, "r1")
    assert P.annotations(prov)[N.ANN_REQUESTER] == f"{P.uid(r)} r1"
    assert P.labels(prov)[N.LBL_DUAL] == "r1"
    assert P.labels(r)[N.LBL_DUAL] == P.name(prov)
    assert N.FIN_PROVIDER in P.finalizers(prov)
    assert N.FIN_REQUESTER in P.finalizers(r)


def test_rule4_two_requesters_never_share_one_sleeper():
    c = cluster(sleeper_limit=2)
    c.add_requester("r1", "n1", ["G0"], patch=PATCH)
    c.settle()
    c.delete("r1")
    c.settle()
    c.add_requester("r2", "n1", ["G0"], patch=PATCH)
    c.add_requester("r3", "n1", ["G0"], patch=PATCH)  # same spec (scheduler bug or time-shared)
    c.settle()
    p2, p3 = provider_of(c, "r2"), provider_of(c, "r3")
    assert p2 is not None and p3 is not None and P.name(p2) != P.name(p3)


def test_rule5_requester_told_ready_only_when_provider_ready():
    c = cluster()
    c.auto_ready = False
    c.add_requester("r1", "n1", ["G0"], patch=PATCH)
    c.settle()
    prov = provider_of(c, "r1")
    assert not P.ready(c.world.pods["r1"])
    assert decide_requester(c.world, c.world.pods["r1"]).kind == "starting"
    prov["status"] = {"podIP": "10.9.9.9", "conditions": [{"type": "Ready", "status": "True"}]}
    d = decide_requester(c.world, c.world.pods["r1"])
    assert d.kind == "serving"
    assert any(isinstance(e, E.BecomeReady) and e.target == "10.9.9.9:8000" for e in d.effects)
    c.settle()
    assert P.ready(c.world.pods["r1"])


def test_rule5_requester_told_unready_when_provider_stops_being_ready():
    c = cluster()
    c.add_requester("r1", "n1", ["G0"], patch=PATCH)
    c.settle()
    prov = provider_of(c, "r1")
    prov["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
    d = decide_requester(c.world, c.world.pods["r1"])
    assert any(isinstance(e, E.BecomeUnready) for e in d.effects)
    c.settle()
    assert not P.ready(c.world.pods["r1"])


def test_rule6_requester_deleted_puts_provider_to_sleep_and_unbinds():
    c = cluster()
    c.add_requester("r1", "n1", ["G0"], patch=PATCH)
    c.settle()
    pname = P.name(provider_of(c, "r1"))
    c.delete("r1")
    d = decide_requester(c.world, c.world.pods["r1"])
    assert d.kind == "unbind" and isinstance(d.effects[0], E.SleepAndRelease)
    c.settle()
    assert "r1" not in c.world.pods
    prov = c.world.pods[pname]
    assert c.servers[pname] is True
    assert P.labels(prov)[N.LBL_SLEEPING] == "true"
    assert N.ANN_REQUESTER not in P.annotations(prov) and N.LBL_DUAL not in P.labels(prov)


def test_rule6_provider_that_cannot_sleep_is_deleted():
    c = cluster()
    c.add_requester("r1", "n1", ["G0"], patch=PATCH)
    c.settle()
    pname = P.name(provider_of(c, "r1"))
    c.cannot_sleep.add(pname)
    c.delete("r1")
    c.settle()
    assert "r1" not in c.world.pods and pname not in c.world.pods


def test_rule7_sleeper_limit_deletes_least_recently_used():
    c = cluster(sleeper_limit=2)
    names = []
    for i, patch in enumerate([PATCH, PATCH2, PATCH.replace("m1", "m3")]):
        c.tick()
        c.add_requester(f"r{i}", "n1", ["G0"], patch=patch)
        c.settle()
        names.append(P.name(provider_of(c, f"r{i}")))
        c.tick()
        c.delete(f"r{i}")
        c.settle()
    assert names[0] not in c.world.pods  # oldest sleeper evicted
    assert names[1] in c.world.pods and names[2] in c.world.pods
    assert any(d.kind == "evict-sleeper" and d.subject == names[0] for d in c.log)


def test_rule7_default_sleeper_limit_is_one_per_gpu():
    c = cluster()
    for i, patch in enumerate([PATCH, PATCH2]):
        c.tick()
        c.add_requester(f"r{i}", "n1", ["G0"], patch=patch)
        c.settle()
        c.tick()
        c.delete(f"r{i}")
        c.settle()
    assert len(providers(c)) == 1


def test_rule7_byte_budget_caps_sleepers_beyond_fma():
    c = cluster(sleeper_limit=10, host_memory_budget=250)
    big = PATCH.replace("spec:", f"metadata:\n  annotations: {{{N.ANN_SLEEPER_BYTES}: '100'}}\nspec:")
    for i in range(4):
        c.tick()
        c.add_requester(f"r{i}", "n1", [f"G{i}"], patch=big)
        c.settle()
        c.tick()
        c.delete(f"r{i}")
        c.settle()
    sleepers = providers(c)
    assert len(sleepers) == 2
    assert sorted(P.accelerators(p)[0] for p in sleepers) == ["G2", "G3"]  # the two most recent


def test_rule8_provider_deleted_behind_our_back_deletes_requester():
    c = cluster()
    c.add_requester("r1", "n1", ["G0"], patch=PATCH)
    c.settle()
    pname = P.name(provider_of(c, "r1"))
    c.delete(pname)  # finalizer holds it
    d = decide_requester(c.world, c.world.pods["r1"])
    assert d.kind == "lost" and E.DeletePod("r1", d.effects[0].reason) == d.effects[0]
    c.settle()
    assert "r1" not in c.world.pods and pname not in c.world.pods


def test_rule8_provider_force_deleted_deletes_requester():
    c = cluster()
    c.add_requester("r1", "n1", ["G0"], patch=PATCH)
    c.settle()
    c.force_delete(P.name(provider_of(c, "r1")))
    c.settle()
    assert "r1" not in c.world.pods


def test_rule8_provider_crash_deletes_requester_and_provider():
    c = cluster()
    c.add_requester("r1", "n1", ["G0"], patch=PATCH)
    c.settle()
    pname = P.name(provider_of(c, "r1"))
    c.crash(pname)
    c.settle()
    assert "r1" not in c.world.pods and pname not in c.world.pods


def test_rule8_node_gone_deletes_requester():
    c = cluster()
    c.add_requester("r1", "n1", ["G0"], patch=PATCH)
    c.settle()
    c.world.nodes = {"other"}
    d = decide_requester(c.world, c.world.pods["r1"])
    assert d.kind == "lost" and "node n1" in d.reason


def test_rule8_bad_patch_goes_to_status_and_creates_nothing_then_recovers():
    c = cluster()
    c.add_requester("r1", "n1", ["G0"], patch="spec: [")
    c.settle()
    r = c.world.pods["r1"]
    errs = json.loads(P.annotations(r)[N.ANN_STATUS])["Errors"]
    assert "not valid YAML" in errs[0]
    assert providers(c) == []
    r["metadata"]["annotations"][N.ANN_SERVER_PATCH] = PATCH
    c.settle()
    assert N.ANN_STATUS not in P.annotations(r)
    assert provider_of(c, "r1") is not None


def test_rule8_missing_gpu_map_entry_is_a_status_error():
    c = cluster()
    c.add_requester("r1", "n2", ["X0"], patch=PATCH)
    c.settle()
    assert "no entry for node n2" in P.annotations(c.world.pods["r1"])[N.ANN_STATUS]
    c.add_node("n2", ["X0"])
    c.settle()
    assert provider_of(c, "r1") is not None


def test_rule8_server_patch_and_isc_together_is_an_error():
    c = cluster()
    c.add_requester("r1", "n1", ["G0"], patch=PATCH, isc="x")
    c.settle()
    assert "exclusive" in P.annotations(c.world.pods["r1"])[N.ANN_STATUS]


def test_rule9_requester_keeps_finalizer_while_provider_server_runs():
    c = cluster()
    c.add_requester("r1", "n1", ["G0"], patch=PATCH)
    c.settle()
    pname = P.name(provider_of(c, "r1"))
    c.delete("r1")
    r = c.world.pods["r1"]
    assert N.FIN_REQUESTER in P.finalizers(r)
    # before the sleep is done, nothing drops the finalizer
    for d in decide_node(c.world, "n1"):
        for e in d.effects:
            assert not (isinstance(e, E.PatchMeta) and e.pod == "r1" and e.remove_finalizers)
    c.settle()
    assert "r1" not in c.world.pods and c.servers[pname] is True


def test_rule10_restart_changes_nothing():
    c = cluster()
    c.add_requester("r1", "n1", ["G0"], patch=PATCH)
    c.add_requester("r2", "n1", ["G1"], patch=PATCH2)
    c.settle()
    c.delete("r2")
    c.settle()
    snapshot = json.dumps(c.world.pods, sort_keys=True)
    c.world.told_ready.clear()  # a new controller process remembers nothing
    mark = len(c.log)
    c.settle()
    # only the idempotent become-ready is repeated; no object changes
    assert json.dumps(c.world.pods, sort_keys=True) == snapshot
    assert {d.kind for d in c.log[mark:]} <= {"serving", "idle"}


def test_orphan_provider_of_force_deleted_requester_is_put_to_sleep():
    c = cluster()
    c.add_requester("r1", "n1", ["G0"], patch=PATCH)
    c.settle()
    pname = P.name(provider_of(c, "r1"))
    c.force_delete("r1")
    c.settle()
    assert c.servers[pname] is True and P.bound_to(c.world.pods[pname]) is None


def test_decisions_are_recorded_with_reasons():
    c = cluster()
    c.add_requester("r1", "n1", ["G0"], patch=PATCH)
    c.settle()
    cold = next(d for d in c.log if d.kind == "cold")
    s = cold.summary()
    assert s["subject"] == "r1" and "nominal" in s["reason"] and s["effects"][-1]["effect"] == "CreatePod"
