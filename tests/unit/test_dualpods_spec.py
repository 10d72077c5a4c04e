"""Pure computations of the dual-pods controller: strategic merge, provider spec, nominal, ids."""

from __future__ import annotations

import copy

import pytest

from fma.controllers.dualpods import names as N
from fma.controllers.dualpods.ids import ID_LENGTH, create_body, instance_id
from fma.controllers.dualpods.merge import PatchError, expand_template, strategic_merge
from fma.controllers.dualpods.spec import provider_spec

GPUS = {"GPU-a": 0, "GPU-b": 1, "GPU-c": 2}

PATCH = """
metadata:
  labels: {role: server}
spec:
  containers:
  - name: inference-server
    image: vllm/vllm-openai:latest
    command: [python, -m, vllm.entrypoints.openai.api_server]
    args: ["--model", "/models/{{ .NodeName }}"]
    ports: [{containerPort: 8000}]
"""


def requester(name: str = "req-1") -> dict:
    return {
        "metadata": {"name": name, "namespace": "ns", "uid": "u1",
                     "labels": {"app": "x", "pod-template-hash": "abc", N.LBL_DUAL: "old"},
                     "annotations": {N.ANN_SERVER_PATCH: PATCH}},
        "spec": {
            "nodeName": "n1",
            "containers": [{"name": "inference-server", "image": "stub",
                            "resources": {"limits": {N.GPU_RESOURCE: "2"}, "requests": {N.GPU_RESOURCE: "2"}},
                            "volumeMounts": [{"name": "kube-api-access-x1", "mountPath": "/var/run/secrets"}]}],
            "volumes": [{"name": "kube-api-access-x1", "projected": {}}],
        },
    }


def test_strategic_merge_merges_containers_by_name_and_replaces_plain_lists():
    base = {"containers": [{"name": "a", "image": "1", "args": ["x"]}, {"name": "b", "image": "2"}]}
    patch = {"containers": [{"name": "a", "args": ["y"]}, {"name": "c", "image": "3"}]}
    out = strategic_merge(base, patch, "spec")
    assert out["containers"] == [{"name": "a", "image": "1", "args": ["y"]}, {"name": "b", "image": "2"},
                                 {"name": "c", "image": "3"}]
    assert base["containers"][0]["args"] == ["x"]  # input untouched


def test_strategic_merge_honours_delete_replace_and_null():
    base = {"containers": [{"name": "a", "env": [{"name": "X", "value": "1"}]}, {"name": "b"}],
            "hostNetwork": True, "dnsConfig": {"options": [1], "nameservers": ["x"]}}
    patch = {"containers": [{"name": "b", "$patch": "delete"},
                            {"name": "a", "env": [{"name": "Y", "value": "2"}]}],
             "hostNetwork": None, "dnsConfig": {"$patch": "replace", "nameservers": ["y"]}}
    out = strategic_merge(base, patch, "spec")
    assert out == {"containers": [{"name": "a", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]}],
                   "dnsConfig": {"nameservers": ["y"]}}


def test_strategic_merge_rejects_keyless_element_in_keyed_list():
    with pytest.raises(PatchError, match="containers"):
        strategic_merge({"containers": [{"name": "a"}]}, {"containers": [{"image": "x"}]}, "spec")


def test_template_fields_are_expanded_and_unknown_ones_refused():
    assert expand_template("a {{ .NodeName }} {{.LocalVolume}}", {"NodeName": "n", "LocalVolume": "v"}) == "a n v"
    with pytest.raises(PatchError, match="Nope"):
        expand_template("{{ .Nope }}", {"NodeName": "n"})
    with pytest.raises(PatchError, match="unsupported"):
        expand_template("{{ range .X }}", {"NodeName": "n"})


def test_provider_spec_pins_node_gpus_and_zeroes_gpu_requests():
    ps = provider_spec(requester(), PATCH, "n1", ["GPU-c", "GPU-a"], GPUS)
    pod = ps.pod
    md, spec = pod["metadata"], pod["spec"]
    assert md["generateName"] == "req-1-dual-"
    assert md["namespace"] == "ns"
    assert spec["nodeName"] == "n1"
    (c,) = spec["containers"]
    assert c["name"] == N.SERVER_CONTAINER and c["image"] == "vllm/vllm-openai:latest"
    assert {"name": "CUDA_VISIBLE_DEVICES", "value": "0,2"} in c["env"]
    assert c["resources"]["limits"][N.GPU_RESOURCE] == "0"
    assert c["resources"]["requests"][N.GPU_RESOURCE] == "0"
    assert c["args"] == ["--model", "/models/n1"]
    assert md["labels"] == {"app": "x", "role": "server"}  # binding + RS labels dropped
    assert md["annotations"][N.ANN_ACCELERATORS] == "GPU-c,GPU-a"
    assert md["annotations"][N.ANN_NOMINAL] == ps.nominal
    assert "volumes" not in spec or not spec["volumes"]
    assert not c.get("volumeMounts")


def test_nominal_is_stable_and_ignores_binding_fields_but_not_gpus_or_node():
    r1 = requester("req-1")
    r2 = copy.deepcopy(r1)
    r2["metadata"]["name"] = "req-2"
    r2["metadata"]["uid"] = "u2"
    r2["metadata"]["labels"][N.LBL_DUAL] = "something-else"
    a = provider_spec(r1, PATCH, "n1", ["GPU-a"], GPUS).nominal
    assert a == provider_spec(r2, PATCH, "n1", ["GPU-a"], GPUS).nominal
    assert a != provider_spec(r1, PATCH, "n1", ["GPU-b"], GPUS).nominal
    assert a != provider_spec(r1, PATCH, "n2", ["GPU-a"], GPUS).nominal
    assert a != provider_spec(r1, PATCH.replace("latest", "v2"), "n1", ["GPU-a"], GPUS).nominal


@pytest.mark.parametrize("patch,msg", [
    ("spec: [1, 2]", "spec must be a map"),
    ("[1]", "YAML map"),
    ("spec: {containers: [{name: x, image: y}]", "not valid YAML"),
    ("status: {}", "only metadata and spec"),
    ("metadata: {name: x}", "only labels and annotations"),
])
def test_unusable_patch_is_a_clear_error(patch, msg):
    with pytest.raises(PatchError, match=msg):
        provider_spec(requester(), patch, "n1", ["GPU-a"], GPUS)


def test_patch_without_server_container_is_refused():
    r = requester()
    r["spec"]["containers"][0]["name"] = "stub"
    with pytest.raises(PatchError, match="inference-server"):
        provider_spec(r, "spec: {}", "n1", ["GPU-a"], GPUS)


def test_gpu_missing_from_gpu_map_is_an_error():
    with pytest.raises(PatchError, match="GPU-z"):
        provider_spec(requester(), PATCH, "n1", ["GPU-z"], GPUS)


def test_instance_id_has_contract_shape_and_ignores_key_and_gpu_order():
    msc = {"port": 8005, "options": "--model m", "env_vars": {"A": "1", "B": "2"}}
    iid = instance_id(msc, ["GPU-b", "GPU-a"])
    assert len(iid) == ID_LENGTH and iid[0] == "I" and iid[-1] == "i"
    assert all(ch.isalnum() or ch in "-_" for ch in iid)
    reordered = {"env_vars": {"B": "2", "A": "1"}, "options": "--model m", "port": 8005}
    assert instance_id(reordered, ["GPU-a", "GPU-b"]) == iid
    assert instance_id(msc, ["GPU-a"]) != iid
    assert instance_id({**msc, "port": 8006}, ["GPU-a", "GPU-b"]) != iid


def test_instance_id_matches_the_contract_formula():
    import base64, hashlib
    msc = {"port": 8000, "options": "--model m"}
    text = "options: --model m\nport: 8000\n;gpus=GPU-a,GPU-b"
    want = "I" + base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode() + "i"
    assert instance_id(msc, ["GPU-a", "GPU-b"]) == want


def test_create_body_carries_port_gpus_and_env():
    body = create_body({"port": 8005, "options": "--model m", "env_vars": {"A": 1}}, ["GPU-b", "GPU-a"],
                       {"k": "v"})
    assert body == {"options": "--model m --port 8005", "gpu_uuids": ["GPU-a", "GPU-b"],
                    "env_vars": {"A": "1"}, "annotations": {"k": "v"}}


def test_server_port_prefers_vllm_port_flag_over_the_requesters_merged_ports() -> None:
    from fma.controllers.dualpods.pods import server_port

    pod = {"spec": {"containers": [{"name": "inference-server",
                                    "args": ["--model", "m", "--port", "8005"],
                                    "ports": [{"containerPort": 8080}, {"containerPort": 8005}]}]}}
    assert server_port(pod) == 8005
    pod["spec"]["containers"][0]["args"] = ["--port=8006"]
    assert server_port(pod) == 8006
    pod["spec"]["containers"][0]["args"] = []
    pod["spec"]["containers"][0]["readinessProbe"] = {"httpGet": {"path": "/health", "port": 8007}}
    assert server_port(pod) == 8007
    del pod["spec"]["containers"][0]["readinessProbe"]
    assert server_port(pod) == 8080
    assert server_port({"spec": {"containers": []}}) == 8000
