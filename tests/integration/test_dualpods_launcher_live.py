"""Launcher mode end to end (BEHAVIOUR.md §3): the live dual-pods controller and the
launcher populator as processes, real `fma launcher` processes running simulated vLLM
instances, requester stubs, the API server emulator — all through `fma local`'s
LocalCluster, driven with the official client (ReplicaSets, scale, ISC updates).

One cluster for the module; every test owns one node (its requesters carry a
nodeSelector), so the tests do not see each other's launchers and instances. A test that
wants a launcher waiting for it labels its node, and a LauncherPopulationPolicy matching
that label has the populator make one (LauncherConfig maxInstances 2).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
from typing import Any, Iterator

import httpx
import pytest

from fma.local import podspecs
from tests.support import eventually

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("fma-local"),
    pytest.mark.skipif(importlib.util.find_spec("fma.cli.controller") is None, reason="no dual-pods controller"),
]

P = "dual-pods.llm-d.ai/"
NS = "default"
SCALE = 200.0          # simulated time runs 200x: an instance starts in well under a second
LC = podspecs.LAUNCHER_CONFIG
POPULATED = "fma.llm-d.ai/test-launchers"
TESTS_NODES = 10
GPU_BYTES = 80 * 10**9


class Live:
    """The test's hands on the cluster: the official client plus the launchers' REST API."""

    def __init__(self, cluster: Any) -> None:
        from kubernetes import client, config

        self.cluster = cluster
        self.api = config.new_client_from_config(config_file=cluster.kubeconfig)
        self.core = client.CoreV1Api(self.api)
        self.apps = client.AppsV1Api(self.api)
        self.custom = client.CustomObjectsApi(self.api)
        self.http = httpx.Client(timeout=10, trust_env=False)
        self.next_node = 0

    def close(self) -> None:
        self.http.close()
        self.api.close()

    # ---- objects
    def take_node(self, launchers: bool = True) -> str:
        node = f"node-{self.next_node}"
        self.next_node += 1
        if launchers:
            self.core.patch_node(node, {"metadata": {"labels": {POPULATED: "1"}}})
        return node

    def create_isc(self, name: str, port: int, model: str, labels: dict | None = None,
                   annotations: dict | None = None) -> dict:
        isc = podspecs.isc(model, port, "sim", SCALE)
        isc["metadata"]["name"] = name
        msc = isc["spec"]["modelServerConfig"]
        msc["labels"] = dict(labels or {})
        if annotations:
            msc["annotations"] = dict(annotations)
        return self.custom.create_namespaced_custom_object("fma.llm-d.ai", "v1alpha1", NS,
                                                           "inferenceserverconfigs", isc)

    def patch_isc(self, name: str, patch: dict) -> None:
        self.custom.patch_namespaced_custom_object("fma.llm-d.ai", "v1alpha1", NS, "inferenceserverconfigs",
                                                   name, patch)

    def create_rs(self, name: str, isc: str, node: str, replicas: int = 1) -> None:
        pod = podspecs.requester_pod(name, mode="launcher", engine="sim", model="m", gpus=1, port=8000,
                                     time_scale=SCALE, isc=isc, scenario="launcher-live")
        spec = pod["spec"]
        spec["nodeSelector"] = {"kubernetes.io/hostname": node}
        spec["terminationGracePeriodSeconds"] = 1
        labels = {**pod["metadata"]["labels"], "app": name}
        self.apps.create_namespaced_replica_set(NS, {
            "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": labels, "annotations": pod["metadata"]["annotations"]},
                                  "spec": spec}}})

    def scale(self, rs: str, replicas: int) -> None:
        self.apps.patch_namespaced_replica_set_scale(rs, NS, {"spec": {"replicas": replicas}})

    def hog(self, name: str, node: str) -> None:
        """A plain pod holding one GPU on ``node`` (so the next requester gets another GPU)."""
        self.core.create_namespaced_pod(NS, {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "hog"}},
            "spec": {"nodeSelector": {"kubernetes.io/hostname": node}, "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "hog", "image": "busybox", "command": ["sleep", "600"],
                                     "resources": {"limits": {"nvidia.com/gpu": "1"},
                                                   "requests": {"nvidia.com/gpu": "1"}}}]}})
        eventually(lambda: self.pod(name).get("spec", {}).get("nodeName"), 20, f"hog {name} to be placed")

    # ---- reading
    def pod(self, name: str) -> dict:
        try:
            return self.api.sanitize_for_serialization(self.core.read_namespaced_pod(name, NS))
        except Exception:  # noqa: BLE001 - gone
            return {}

    def pods(self, selector: str) -> list[dict]:
        items = self.core.list_namespaced_pod(NS, label_selector=selector).items
        return [self.api.sanitize_for_serialization(p) for p in items]

    def requesters(self, rs: str) -> list[dict]:
        return [p for p in self.pods(f"app={rs},fma.llm-d.ai/local-role=requester")
                if not p["metadata"].get("deletionTimestamp")]

    def launchers(self, node: str) -> list[dict]:
        return [p for p in self.pods(f"{P}launcher-config-name={LC}")
                if (p["metadata"].get("labels") or {}).get(P + "node-name") == node
                and not p["metadata"].get("deletionTimestamp")]

    def bound_ready(self, rs: str) -> dict | None:
        """The ReplicaSet's requester once it is Ready and labelled with its launcher and instance."""
        for p in self.requesters(rs):
            labels = p["metadata"].get("labels") or {}
            conds = (p.get("status") or {}).get("conditions") or []
            if labels.get(P + "dual") and labels.get(P + "instance") and any(
                    c["type"] == "Ready" and c["status"] == "True" for c in conds):
                return p
        return None

    def serve(self, rs: str, timeout: float = 30) -> tuple[dict, str, str]:
        """Wait for the ReplicaSet's requester to be served: (requester, launcher, instance id)."""
        r = eventually(lambda: self.bound_ready(rs), timeout, f"a Ready, bound requester of {rs}")
        labels = r["metadata"]["labels"]
        return r, labels[P + "dual"], labels[P + "instance"]

    def instances(self, launcher: str) -> dict[str, dict]:
        ip = (self.pod(launcher).get("status") or {}).get("podIP")
        r = self.http.get(f"http://{ip}:{podspecs.LAUNCHER_PORT}/v2/vllm/instances", params={"detail": "true"})
        r.raise_for_status()
        return {i["instance_id"]: i for i in r.json()["instances"]}

    def phase(self, launcher: str, iid: str) -> str:
        try:
            return str(self.instances(launcher).get(iid, {}).get("phase", "absent"))
        except httpx.HTTPError:
            return "unreachable"

    def asleep(self, rs: str, launcher: str, iid: str, timeout: float = 30) -> None:
        """Scale the ReplicaSet to 0 and wait until its requester is gone and the instance sleeps
        (as the launcher itself says) with its launcher unbound."""
        self.scale(rs, 0)
        eventually(lambda: not self.pods(f"app={rs},fma.llm-d.ai/local-role=requester"), timeout,
                   f"the requesters of {rs} to be gone")
        eventually(lambda: self.phase(launcher, iid) == "sleeping", timeout,
                   f"instance {iid[:10]} on {launcher} to sleep")
        eventually(lambda: P + "requester" not in (self.pod(launcher)["metadata"].get("annotations") or {}),
                   timeout, f"launcher {launcher} to be unbound")
        # the scheduler has the GPU back before the next requester is placed
        eventually(lambda: not any(k.startswith(f"{NS}/{rs}-") for k in self.cluster.state.where), timeout,
                   f"the GPUs of {rs} to be released")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    from fma.local.cluster import ClusterOptions, LocalCluster

    state = tmp_path_factory.mktemp("launcher-live")
    opts = ClusterOptions(nodes=TESTS_NODES, gpus_per_node=4, gpu_memory=GPU_BYTES, state_dir=str(state),
                          controller_args=["--sleeper-limit", "2"], max_grace=2.0)
    with LocalCluster(opts) as cluster:
        lv = Live(cluster)
        try:
            lcfg = podspecs.launcher_config("sim", 4, GPU_BYTES, SCALE, max_instances=2)
            lcfg["spec"]["podTemplate"]["spec"]["terminationGracePeriodSeconds"] = 2
            lv.custom.create_namespaced_custom_object("fma.llm-d.ai", "v1alpha1", NS, "launcherconfigs", lcfg)
            policy = podspecs.population_policy(1, {POPULATED: "1"})
            lv.custom.create_namespaced_custom_object("fma.llm-d.ai", "v1alpha1", NS,
                                                      "launcherpopulationpolicies", policy)
            yield lv
        finally:
            lv.close()
            if os.environ.get("FMA_KEEP_LOGS"):
                print(f"logs under {state}")


def _populated(lv: Live, node: str) -> str:
    """The node's populated launcher, once Ready."""
    def ready_one() -> str | None:
        for p in lv.launchers(node):
            conds = (p.get("status") or {}).get("conditions") or []
            if any(c["type"] == "Ready" and c["status"] == "True" for c in conds):
                return p["metadata"]["name"]
        return None
    return eventually(ready_one, 30, f"the populator's launcher on {node} to be Ready")


# ---- the scenarios ----------------------------------------------------------------------

def test_scaling_1_0_1_wakes_the_same_instance_on_the_same_launcher_and_gpu(live: Live) -> None:
    node = live.take_node()
    l0 = _populated(live, node)
    live.create_isc("wake", 8100, "m-wake")
    live.create_rs("wake", "wake", node)
    r1, lname, iid = live.serve("wake")
    assert lname == l0, "the populated launcher takes the first request (warm)"
    gpus = r1["metadata"]["annotations"][P + "accelerators"]
    pid = live.instances(lname)[iid]["pid"]

    live.asleep("wake", lname, iid)
    live.scale("wake", 1)
    r2, lname2, iid2 = live.serve("wake")
    assert r2["metadata"]["uid"] != r1["metadata"]["uid"]
    assert (lname2, iid2) == (lname, iid)                                   # hot: same launcher, same instance
    assert r2["metadata"]["annotations"][P + "accelerators"] == gpus       # same GPU
    inst = live.instances(lname)[iid]
    assert inst["phase"] == "awake" and inst["pid"] == pid                 # woken, not restarted
    assert [p["metadata"]["name"] for p in live.launchers(node)] == [lname]  # no new launcher


def test_two_iscs_share_one_launcher_with_instances_on_different_gpus(live: Live) -> None:
    node = live.take_node()
    l0 = _populated(live, node)
    live.create_isc("share-a", 8110, "m-share-a")
    live.create_isc("share-b", 8111, "m-share-b")
    live.create_rs("share-a", "share-a", node)
    ra, la, ia = live.serve("share-a")
    live.asleep("share-a", la, ia)
    live.hog("share-hog", node)  # takes the GPU share-a had
    live.create_rs("share-b", "share-b", node)
    rb, lb, ib = live.serve("share-b")
    assert la == lb == l0
    insts = live.instances(l0)
    assert set(insts) == {ia, ib}
    assert insts[ia]["phase"] == "sleeping" and insts[ib]["phase"] == "awake"
    assert insts[ia]["gpu_uuids"] != insts[ib]["gpu_uuids"]
    assert len(live.launchers(node)) == 1


def test_max_instances_2_a_third_isc_evicts_the_least_recently_used_sleeper(live: Live) -> None:
    """All three on one GPU: the second model only fits because the first one's sleep went
    through the launcher (its GPU ledger frees the bytes)."""
    node = live.take_node()
    l0 = _populated(live, node)
    served = {}
    for name, port in (("evict-a", 8120), ("evict-b", 8121), ("evict-c", 8122)):
        live.create_isc(name, port, "m-" + name)
        live.create_rs(name, name, node)
        r, lname, iid = live.serve(name)
        assert lname == l0, f"{name} went to launcher {lname}, not the populated {l0}"
        served[name] = iid
        if name != "evict-c":
            live.asleep(name, lname, iid)
    assert set(live.instances(l0)) == {served["evict-b"], served["evict-c"]}  # a, the LRU sleeper, stopped
    assert len(live.launchers(node)) == 1


def test_port_clash_with_a_serving_instance_sends_the_request_to_a_new_launcher(live: Live) -> None:
    node = live.take_node()
    l0 = _populated(live, node)
    live.create_isc("clash-a", 8130, "m-clash-a")
    live.create_isc("clash-b", 8130, "m-clash-b")
    live.create_rs("clash-a", "clash-a", node)
    ra, la, ia = live.serve("clash-a")
    live.create_rs("clash-b", "clash-b", node)
    rb, lb, ib = live.serve("clash-b")
    assert la == l0 and lb != la
    assert set(live.instances(la)) == {ia} and set(live.instances(lb)) == {ib}
    assert live.bound_ready("clash-a") is not None  # the first one still serves

    # the controller's launcher, unbound with a sleeper, is kept (the populator does not
    # treat it as surplus): the next request of clash-b is hot on it
    live.asleep("clash-b", lb, ib)
    live.scale("clash-b", 1)
    _, lb2, ib2 = live.serve("clash-b")
    assert (lb2, ib2) == (lb, ib)


def test_a_sleeper_on_the_same_port_is_evicted_rather_than_making_a_new_launcher(live: Live) -> None:
    node = live.take_node()
    l0 = _populated(live, node)
    live.create_isc("port-a", 8140, "m-port-a")
    live.create_isc("port-b", 8140, "m-port-b")
    live.create_rs("port-a", "port-a", node)
    _, la, ia = live.serve("port-a")
    live.asleep("port-a", la, ia)
    live.create_rs("port-b", "port-b", node)
    _, lb, ib = live.serve("port-b")
    assert lb == la == l0
    assert set(live.instances(l0)) == {ib}
    assert len(live.launchers(node)) == 1


def test_controller_restart_rebinds_to_the_sleeping_instance(live: Live) -> None:
    node = live.take_node()
    _populated(live, node)
    live.create_isc("restart", 8150, "m-restart")
    live.create_rs("restart", "restart", node)
    _, lname, iid = live.serve("restart")
    pid = live.instances(lname)[iid]["pid"]
    live.asleep("restart", lname, iid)
    live.cluster.restart_system("controller")
    live.scale("restart", 1)
    _, lname2, iid2 = live.serve("restart")
    assert (lname2, iid2) == (lname, iid)
    insts = live.instances(lname)
    assert list(insts) == [iid] and insts[iid]["pid"] == pid and insts[iid]["phase"] == "awake"


def test_isc_update_deletes_the_obsolete_sleeping_instance(live: Live) -> None:
    node = live.take_node()
    _populated(live, node)
    live.create_isc("update", 8160, "m-update")
    live.create_rs("update", "update", node)
    _, lname, iid = live.serve("update")
    live.asleep("update", lname, iid)
    live.patch_isc("update", {"spec": {"modelServerConfig": {"env_vars": {"VLLM_SERVER_DEV_MODE": "1",
                                                                          "TEST_REVISION": "2"}}}})
    eventually(lambda: iid not in live.instances(lname), 20, f"obsolete instance {iid[:10]} to be deleted")
    live.scale("update", 1)
    _, lname2, iid2 = live.serve("update")
    assert iid2 != iid and live.instances(lname2)[iid2]["env_vars"].get("TEST_REVISION") == "2"


def test_an_instance_that_dies_deletes_its_requester_and_the_new_one_is_served(live: Live) -> None:
    node = live.take_node()
    _populated(live, node)
    live.create_isc("dies", 8170, "m-dies")
    live.create_rs("dies", "dies", node)
    r1, lname, iid = live.serve("dies")
    pid = live.instances(lname)[iid]["pid"]
    os.killpg(pid, signal.SIGKILL)
    old = r1["metadata"]["name"]
    eventually(lambda: not live.pod(old) or live.pod(old)["metadata"].get("deletionTimestamp"), 20,
               f"requester {old} to be deleted after its instance died")
    r2, lname2, iid2 = live.serve("dies", timeout=30)   # the ReplicaSet made a new one, served again
    assert r2["metadata"]["uid"] != r1["metadata"]["uid"]
    assert live.instances(lname2)[iid2]["pid"] != pid


def test_isc_routing_metadata_is_on_the_launcher_while_serving_and_removed_at_sleep(live: Live) -> None:
    node = live.take_node()
    _populated(live, node)
    live.create_isc("routing", 8180, "m-routing", labels={"routing.example/pool": "chat"},
                    annotations={"routing.example/weight": "3"})
    live.create_rs("routing", "routing", node)
    r, lname, iid = live.serve("routing")
    md = live.pod(lname)["metadata"]
    assert md["labels"]["routing.example/pool"] == "chat"
    assert md["annotations"]["routing.example/weight"] == "3"
    assert json.loads(md["annotations"][P + "isc-routing-metadata"]) == {
        "labels": {"routing.example/pool": "chat"}, "annotations": {"routing.example/weight": "3"}}
    assert md["annotations"][P + "instance-id"] == iid and md["annotations"][P + "server-port"] == "8180"
    assert md["labels"][P + "dual"] == r["metadata"]["name"]
    live.asleep("routing", lname, iid)
    md = live.pod(lname)["metadata"]
    assert "routing.example/pool" not in md.get("labels", {})
    assert not {"routing.example/weight", P + "isc-routing-metadata", P + "instance-id"} & set(md.get("annotations", {}))
