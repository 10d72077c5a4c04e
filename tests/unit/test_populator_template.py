"""Launcher pods built from a LauncherConfig: names, labels, annotations, owner, forced
env, zero GPUs, pinning; and the digests that tell an outdated launcher."""

from __future__ import annotations

import copy

import pytest

from fma.controllers.populator import names as N
from fma.controllers.populator.memport import make_lc
from fma.controllers.populator.template import build_launcher_pod, config_hash, parse_launcher_config


def lc_obj(**extra):
    obj = make_lc("vllm", **extra)
    obj["metadata"]["uid"] = "lc-uid-1"
    return obj


def test_launcher_pod_carries_the_contract_names() -> None:
    lc = parse_launcher_config(lc_obj())
    pod = build_launcher_pod(lc, "node-a", "ns1")
    md = pod["metadata"]
    assert md["generateName"] == "launcher-vllm-" and md["namespace"] == "ns1" and "name" not in md
    assert md["labels"] == {N.LABEL_LAUNCHER_CONFIG: "vllm", N.LABEL_NODE: "node-a", N.LABEL_COMPONENT: "launcher"}
    assert md["annotations"][N.ANN_TEMPLATE_HASH] == lc.template_hash
    assert md["annotations"][N.ANN_CONFIG_HASH] == config_hash(lc.template_hash, "node-a")
    assert md["ownerReferences"] == [{"apiVersion": "fma.llm-d.ai/v1alpha1", "kind": "LauncherConfig",
                                      "name": "vllm", "uid": "lc-uid-1", "controller": False,
                                      "blockOwnerDeletion": False}]
    assert pod["spec"]["nodeName"] == "node-a"
    assert (pod["kind"], pod["apiVersion"]) == ("Pod", "v1")


def test_launcher_container_gets_forced_env_and_probes() -> None:
    obj = lc_obj(env=[{"name": "VLLM_SERVER_DEV_MODE", "value": "0"}, {"name": "KEEP", "value": "me"},
                      {"name": "NVIDIA_VISIBLE_DEVICES", "valueFrom": {"fieldRef": {"fieldPath": "x"}}}])
    ctr = build_launcher_pod(parse_launcher_config(obj), "n", "ns")["spec"]["containers"][0]
    env = {e["name"]: e for e in ctr["env"]}
    assert env["VLLM_SERVER_DEV_MODE"] == {"name": "VLLM_SERVER_DEV_MODE", "value": "1"}
    assert env["NVIDIA_VISIBLE_DEVICES"] == {"name": "NVIDIA_VISIBLE_DEVICES", "value": "all"}
    assert env["NVIDIA_DRIVER_CAPABILITIES"]["value"] == "compute,utility"
    assert env["KEEP"]["value"] == "me"
    assert ctr["readinessProbe"]["httpGet"] == {"path": "/v2/vllm/instances", "port": 8001, "scheme": "HTTP"}
    assert ctr["livenessProbe"]["httpGet"]["path"] == "/health"


def test_launcher_requests_zero_gpus() -> None:
    obj = lc_obj(resources={"limits": {"nvidia.com/gpu": "8", "cpu": "4"}, "requests": {"nvidia.com/gpu": 8}})
    obj["spec"]["podTemplate"]["spec"]["overhead"] = {"nvidia.com/gpu": "1", "cpu": "100m"}
    spec = build_launcher_pod(parse_launcher_config(obj), "n", "ns")["spec"]
    res = spec["containers"][0]["resources"]
    assert res == {"limits": {"nvidia.com/gpu": "0", "cpu": "4"}, "requests": {"nvidia.com/gpu": "0"}}
    assert spec["overhead"] == {"cpu": "100m"}


def test_template_copied_from_a_live_pod_is_de_individualised() -> None:
    obj = lc_obj(volumeMounts=[{"name": "kube-api-access-x7k2p", "mountPath": "/var/run"}, {"name": "data", "mountPath": "/d"}])
    spec = obj["spec"]["podTemplate"]["spec"]
    spec["volumes"] = [{"name": "kube-api-access-x7k2p", "projected": {}}, {"name": "data", "emptyDir": {}}]
    spec["nodeName"] = "somewhere"
    spec["ephemeralContainers"] = [{"name": "debug"}]
    out = build_launcher_pod(parse_launcher_config(obj), "n", "ns")["spec"]
    assert out["volumes"] == [{"name": "data", "emptyDir": {}}]
    assert out["containers"][0]["volumeMounts"] == [{"name": "data", "mountPath": "/d"}]
    assert out["nodeName"] == "n" and "ephemeralContainers" not in out


def test_template_hash_ignores_the_node_and_config_hash_does_not() -> None:
    lc = parse_launcher_config(lc_obj())
    a, b = build_launcher_pod(lc, "a", "ns"), build_launcher_pod(lc, "b", "ns")
    assert a["metadata"]["annotations"][N.ANN_TEMPLATE_HASH] == b["metadata"]["annotations"][N.ANN_TEMPLATE_HASH]
    assert a["metadata"]["annotations"][N.ANN_CONFIG_HASH] != b["metadata"]["annotations"][N.ANN_CONFIG_HASH]


def test_template_change_changes_the_template_hash_and_max_instances_does_not() -> None:
    base = parse_launcher_config(lc_obj())
    assert parse_launcher_config(lc_obj(image="fma-launcher:2")).template_hash != base.template_hash
    more = lc_obj()
    more["spec"]["maxInstances"] = 5
    assert parse_launcher_config(more).template_hash == base.template_hash


def test_template_hash_is_stable_across_key_order() -> None:
    obj = lc_obj(env=[{"name": "A", "value": "1"}])
    ctr = obj["spec"]["podTemplate"]["spec"]["containers"][0]
    reordered = copy.deepcopy(obj)
    reordered["spec"]["podTemplate"]["spec"]["containers"][0] = dict(reversed(list(ctr.items())))
    assert parse_launcher_config(obj).template_hash == parse_launcher_config(reordered).template_hash


def test_building_does_not_change_the_launcher_config() -> None:
    obj = lc_obj(resources={"limits": {"nvidia.com/gpu": "8"}})
    before = copy.deepcopy(obj)
    lc = parse_launcher_config(obj)
    build_launcher_pod(lc, "n", "ns")
    build_launcher_pod(lc, "m", "ns")
    assert obj == before
    assert build_launcher_pod(lc, "n", "ns")["metadata"]["labels"][N.LABEL_NODE] == "n"


@pytest.mark.parametrize("mutate,msg", [
    (lambda s: s.pop("podTemplate"), "spec.podTemplate is required"),
    (lambda s: s["podTemplate"]["spec"]["containers"][0].update(name="other"), "no container named 'inference-server'"),
    (lambda s: s["podTemplate"]["spec"].update(containers=[]), "non-empty list"),
    (lambda s: s.update(maxInstances=0), "maxInstances must be an integer >= 1"),
], ids=["no-template", "no-server-container", "no-containers", "max-instances"])
def test_invalid_launcher_config_is_refused_with_the_reason(mutate, msg) -> None:
    obj = lc_obj()
    mutate(obj["spec"])
    lc = parse_launcher_config(obj)
    assert not lc.ok and any(msg in e for e in lc.errors), lc.errors
    with pytest.raises(ValueError, match="LauncherConfig vllm"):
        build_launcher_pod(lc, "n", "ns")


def test_long_launcher_config_name_is_cut_to_a_valid_generate_name() -> None:
    obj = make_lc("x" * 80)
    pod = build_launcher_pod(parse_launcher_config(obj), "n", "ns")
    assert len(pod["metadata"]["generateName"]) <= 58
