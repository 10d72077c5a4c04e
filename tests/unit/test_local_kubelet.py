"""fma local's scheduler and kubelet stand-in, against an in-memory pod store, with real
local processes (python -m http.server on the pod's own IP)."""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Iterator

import pytest

from fma.local.kubelet import Kubelet, NodeRuntime
from fma.local.memkube import MemKube
from fma.local.placement import ANN_GPUS, ClusterState
from fma.local.podnet import PodIPAllocator
from fma.local.procs import Supervisor
from fma.local.scheduler import Scheduler
from tests.support import eventually as wait_for


class Env:
    def __init__(self, tmp: str) -> None:
        self.kube = MemKube()
        self.state = ClusterState()
        nodes = {}
        for i in range(2):
            name = f"node-{i}"
            uuids = [f"GPU-{i}-{j}" for j in range(2)]
            self.state.add_node({"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}}}, uuids)
            d = os.path.join(tmp, name)
            os.makedirs(d, exist_ok=True)
            nodes[name] = NodeRuntime(name, uuids, d)
        self.sup = Supervisor()
        self.podnet = PodIPAllocator()
        self.sched = Scheduler(self.kube, self.state)
        self.kubelet = Kubelet(self.kube, nodes, self.sup, self.podnet, os.path.join(tmp, "logs"), max_grace=3)
        self.sched.start()
        self.kubelet.start()

    def close(self) -> None:
        self.sched.close()
        self.kubelet.close()
        self.sup.close()
        self.podnet.close()

    def pod(self, name: str) -> dict:
        return self.kube.get_pod("default", name)


@pytest.fixture
def env(tmp_path: Any) -> Iterator[Env]:
    e = Env(str(tmp_path))
    yield e
    e.close()
    assert e.sup.live() == []


def http_pod(name: str, gpus: int = 0, **extra: Any) -> dict:
    c = {"name": "web", "command": ["python", "-m", "http.server", "8080", "--bind", "$(POD_IP)"],
         "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
         "ports": [{"name": "http", "containerPort": 8080}],
         "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1}}
    if gpus:
        c["resources"] = {"limits": {"nvidia.com/gpu": str(gpus)}}
    return {"metadata": {"name": name}, "spec": {"containers": [c], "terminationGracePeriodSeconds": 2, **extra}}


def ready(pod: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions", []))


def test_http_server_pod_is_scheduled_started_on_its_own_ip_and_turns_ready(env: Env) -> None:
    env.kube.create_pod("default", http_pod("web-a", gpus=1))
    env.kube.create_pod("default", http_pod("web-b", gpus=1))
    a = wait_for(lambda: (p := env.pod("web-a")) and ready(p) and p, what="web-a Ready")
    b = wait_for(lambda: (p := env.pod("web-b")) and ready(p) and p, what="web-b Ready")
    assert a["spec"]["nodeName"] == b["spec"]["nodeName"] == "node-0"
    assert a["metadata"]["annotations"][ANN_GPUS] == "GPU-0-0"
    assert b["metadata"]["annotations"][ANN_GPUS] == "GPU-0-1"
    assert a["status"]["podIP"] != b["status"]["podIP"]  # both on port 8080, no clash
    assert a["status"]["podIP"].startswith("127.") and a["status"]["phase"] == "Running"
    import urllib.request
    with urllib.request.urlopen(f"http://{a['status']['podIP']}:8080/", timeout=5) as r:
        assert r.status == 200


def test_container_env_has_device_plugin_gpus_downward_api_and_expanded_args(env: Env, tmp_path: Any) -> None:
    out = tmp_path / "env.txt"
    script = "import os,sys; open(sys.argv[1],'w').write(os.environ['NVIDIA_VISIBLE_DEVICES']+' '+os.environ['MY_NODE']+' '+sys.argv[2])"
    pod = {"metadata": {"name": "envp"}, "spec": {"restartPolicy": "Never", "containers": [{
        "name": "c", "command": ["python", "-c", script, str(out), "$(MY_NODE)-x"],
        "resources": {"limits": {"nvidia.com/gpu": "2"}},
        "env": [{"name": "MY_NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}]}]}}
    env.kube.create_pod("default", pod)
    p = wait_for(lambda: (p := env.pod("envp"))["status"].get("phase") == "Succeeded" and p, what="Succeeded")
    assert out.read_text() == "GPU-0-0,GPU-0-1 node-0 node-0-x"
    assert p["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0
    # a finished pod frees its GPUs
    wait_for(lambda: env.state.nodes["node-0"].free() == ["GPU-0-0", "GPU-0-1"], what="GPUs freed")


def test_crashing_container_is_restarted_and_restarts_are_counted(env: Env) -> None:
    pod = {"metadata": {"name": "crash"}, "spec": {"containers": [{
        "name": "c", "command": [sys.executable, "-c", "import sys; sys.exit(3)"]}]}}
    env.kube.create_pod("default", pod)
    p = wait_for(lambda: (p := env.pod("crash"))["status"].get("containerStatuses", [{}])[0].get("restartCount", 0) >= 2 and p,
                 what="2 restarts")
    last = p["status"]["containerStatuses"][0]["lastState"]["terminated"]
    assert last["exitCode"] == 3


def test_unschedulable_pod_waits_for_gpus_then_runs(env: Env) -> None:
    for i in range(2):
        env.kube.create_pod("default", http_pod(f"big-{i}", gpus=2))
    wait_for(lambda: all(env.pod(f"big-{i}")["spec"].get("nodeName") for i in range(2)), what="both bound")
    env.kube.create_pod("default", http_pod("late", gpus=1))
    time.sleep(0.3)
    assert not env.pod("late")["spec"].get("nodeName")
    env.kube.delete_pod("default", "big-1")
    wait_for(lambda: env.pod("late")["spec"].get("nodeName") == "node-1", what="late bound after big-1 went")


def test_graceful_deletion_stops_processes_then_finalizers_hold_the_object(env: Env) -> None:
    pod = http_pod("fin")
    pod["metadata"]["finalizers"] = ["example.com/hold"]
    env.kube.create_pod("default", pod)
    p = wait_for(lambda: (p := env.pod("fin")) and ready(p) and p, what="Ready")
    pid = int(p["status"]["containerStatuses"][0]["containerID"].split("//")[1])
    env.kube.delete_pod("default", "fin")
    wait_for(lambda: env.pod("fin")["status"].get("phase") in ("Failed", "Succeeded"), what="terminal phase")
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert env.pod("fin")["metadata"]["deletionTimestamp"]
    env.kube.patch_pod("default", "fin", {"metadata": {"finalizers": None}})
    wait_for(lambda: "default/fin" not in env.kube.pods, what="pod finalized")


def test_container_without_command_is_reported_not_run(env: Env) -> None:
    env.kube.create_pod("default", {"metadata": {"name": "img"}, "spec": {"containers": [{"name": "c", "image": "x"}]}})
    st = wait_for(lambda: (env.pod("img")["status"].get("containerStatuses") or [{}])[0].get("state", {}).get("waiting"),
                  what="waiting state")
    assert st["reason"] == "CreateContainerConfigError" and "no command" in st["message"]


def test_sim_vllm_and_requester_stub_pods_bind_their_pod_ips_and_turn_ready(env: Env) -> None:
    from fma.local import podspecs

    sim = podspecs.direct_patch("sim", "meta-llama/Llama-3.1-8B-Instruct", 8000, 1000)["spec"]["containers"][0]
    sim["env"] = podspecs.POD_IP_ENV
    env.kube.create_pod("default", {"metadata": {"name": "sim"}, "spec": {"containers": [sim]}})
    env.kube.create_pod("default", {"metadata": {"name": "req"}, "spec": {"containers": [podspecs.requester_container(1)]}})
    p = wait_for(lambda: (p := env.pod("sim")) and ready(p) and p, timeout=60, what="sim-vllm Ready")
    assert p["status"]["podIP"].startswith(env.podnet.block.split(".0.0/")[0] + ".")  # this cluster's block
    r = wait_for(lambda: (r := env.pod("req")) and r["status"].get("podIP") and r, timeout=30, what="requester running")
    import json
    import urllib.request
    ip = r["status"]["podIP"]
    def gpus() -> list | None:
        try:
            with urllib.request.urlopen(f"http://{ip}:8081/v1/dual-pods/accelerators", timeout=2) as resp:
                return json.loads(resp.read())
        except OSError:
            return None
    assert wait_for(gpus, timeout=30, what="requester SPI") == [r["metadata"]["annotations"]["local.fma.llm-d.ai/gpus"]]
    assert not ready(env.pod("req"))  # not bound to a provider yet: /ready is 503
