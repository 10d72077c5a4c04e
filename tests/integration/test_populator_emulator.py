"""The populator against the API server emulator, through the real client, informers and
the CRDs: scale up and down, outdated first, bound never deleted, template roll-out,
stuck detection on a fake clock, status errors, and the CRD's duplicate-key rule."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from fma.controllers.populator import names as N
from fma.controllers.populator.controller import Populator
from fma.controllers.populator.memport import make_lc, make_lpp, make_node
from fma.controllers.populator.stuck import Thresholds
from fma.events import MemoryLog
from fma.events.fold import fold_log
from tests.support import eventually

ROOT = Path(__file__).resolve().parents[2]
NS = "default"


class Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture
def cluster() -> Iterator[dict[str, Any]]:
    from fma.kube import Rest
    from fma.kube.emulator import Emulator
    from fma.kube.populator_port import ClientPopulatorPort

    emu = Emulator(port=0, crd_dir=str(ROOT / "crds")).start()
    api = emu.api_client()
    rest = Rest(api)
    clock = Clock()
    log = MemoryLog()
    port = ClientPopulatorPort(api, NS)
    pop = Populator(port, clock=clock, event_log=log, thresholds=Thresholds(120, 450), expectation_ttl=30)
    stop = threading.Event()
    kubelet = threading.Thread(target=finish_deletions, args=(rest, stop), daemon=True)
    kubelet.start()
    try:
        yield {"rest": rest, "pop": pop, "port": port, "clock": clock, "log": log, "emu": emu}
    finally:
        stop.set()
        kubelet.join(5)
        pop.stop()
        emu.stop()


def finish_deletions(rest: Any, stop: threading.Event) -> None:
    """What a kubelet does for a pod being deleted: stop it, then remove the object."""
    from fma.kube import KubeError

    while not stop.wait(0.05):
        try:
            for p in rest.list("pods", NS).get("items") or []:
                if p["metadata"].get("deletionTimestamp"):
                    rest.delete("pods", NS, p["metadata"]["name"], grace_seconds=0)
        except KubeError:
            pass


def wait_for(cond: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    return eventually(cond, timeout, what)


def launchers(rest, node: str | None = None) -> list[dict[str, Any]]:
    items = rest.list("pods", NS, N.LABEL_LAUNCHER_CONFIG).get("items") or []
    return [p for p in items if node is None or p["metadata"]["labels"].get(N.LABEL_NODE) == node]


def count_is(rest, n: int, node: str | None = None) -> Callable[[], bool]:
    return lambda: len([p for p in launchers(rest, node) if not p["metadata"].get("deletionTimestamp")]) == n \
        and len(launchers(rest, node)) == n


def start(c: dict[str, Any], nodes: dict[str, dict[str, str]], count: int = 1) -> None:
    rest = c["rest"]
    for name, labels in nodes.items():
        rest.create("nodes", None, make_node(name, labels))
    rest.create("launcherconfigs", NS, make_lc("vllm"))
    rest.create("launcherpopulationpolicies", NS, make_lpp("one-per-gpu-node", {"vllm": count}, {"gpu": "true"}))
    c["pop"].start()


def test_fma_e2e_setup_one_launcher_per_gpu_node(cluster) -> None:
    rest = cluster["rest"]
    start(cluster, {"gpu-a": {"gpu": "true"}, "gpu-b": {"gpu": "true"}, "cpu-a": {"gpu": "false"}})
    wait_for(count_is(rest, 2), "one launcher per GPU node")
    pods = launchers(rest)
    assert sorted(p["spec"]["nodeName"] for p in pods) == ["gpu-a", "gpu-b"]
    for p in pods:
        md = p["metadata"]
        assert md["name"].startswith("launcher-vllm-")
        assert md["labels"][N.LABEL_COMPONENT] == "launcher"
        assert md["ownerReferences"][0]["kind"] == "LauncherConfig"
        assert md["ownerReferences"][0]["uid"] == rest.get("launcherconfigs", NS, "vllm")["metadata"]["uid"]
    wait_for(lambda: fold_log(cluster["log"].read()).get(f"launcher-pair/{NS}/gpu-a/vllm", None) is not None
             and fold_log(cluster["log"].read())[f"launcher-pair/{NS}/gpu-a/vllm"].state == "steady", "steady pair")


def test_scale_up_down_and_bound_launcher_survives(cluster) -> None:
    rest = cluster["rest"]
    start(cluster, {"n1": {"gpu": "true"}}, count=3)
    wait_for(count_is(rest, 3), "three launchers")
    bound = sorted(p["metadata"]["name"] for p in launchers(rest))[0]
    rest.patch("pods", NS, bound, {"metadata": {"annotations": {N.ANN_REQUESTER: "uid-r r"}}}, "merge")
    pol = rest.get("launcherpopulationpolicies", NS, "one-per-gpu-node")
    pol["spec"]["countForLauncher"][0]["launcherCount"] = 0
    rest.replace("launcherpopulationpolicies", NS, "one-per-gpu-node", pol)
    wait_for(count_is(rest, 1), "surplus deleted")
    assert [p["metadata"]["name"] for p in launchers(rest)] == [bound]


def test_template_change_rolls_unbound_launchers(cluster) -> None:
    rest = cluster["rest"]
    start(cluster, {"n1": {"gpu": "true"}}, count=2)
    wait_for(count_is(rest, 2), "two launchers")
    old = {p["metadata"]["name"] for p in launchers(rest)}
    lc = rest.get("launcherconfigs", NS, "vllm")
    lc["spec"]["podTemplate"]["spec"]["containers"][0]["image"] = "fma-launcher:2"
    rest.replace("launcherconfigs", NS, "vllm", lc)
    wait_for(lambda: count_is(rest, 2)() and not ({p["metadata"]["name"] for p in launchers(rest)} & old),
             "launchers replaced")
    assert {p["spec"]["containers"][0]["image"] for p in launchers(rest)} == {"fma-launcher:2"}


def test_stuck_launcher_is_labelled_with_an_event_and_cleared_on_recovery(cluster) -> None:
    rest, clock = cluster["rest"], cluster["clock"]
    start(cluster, {"n1": {"gpu": "true"}})
    wait_for(count_is(rest, 1), "a launcher")
    name = launchers(rest)[0]["metadata"]["name"]
    clock.offset = 121.0
    cluster["pop"].on_event("nodes", "MODIFIED", rest.get("nodes", None, "n1"))  # wake the loop now
    wait_for(lambda: launchers(rest)[0]["metadata"]["labels"].get(N.LABEL_STUCK) == "true", "stuck label")
    events = wait_for(lambda: [e for e in rest.list("events", NS).get("items") or []
                               if e.get("reason") == "LauncherStuck"], "LauncherStuck event")
    assert events[0]["type"] == "Warning" and events[0]["involvedObject"]["name"] == name
    pod = rest.get("pods", NS, name)
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    pod["status"] = {"phase": "Running", "startTime": now, "conditions": [
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
        {"type": "Ready", "status": "True", "lastTransitionTime": now}]}
    rest.replace("pods", NS, name, pod, sub="status")
    wait_for(lambda: N.LABEL_STUCK not in launchers(rest)[0]["metadata"]["labels"], "stuck label removed")


def test_missing_launcher_config_is_reported_in_the_policy_status(cluster) -> None:
    rest = cluster["rest"]
    start(cluster, {"n1": {"gpu": "true"}})
    rest.create("launcherpopulationpolicies", NS, make_lpp("ghost", {"nope": 1}))
    wait_for(lambda: (rest.get("launcherpopulationpolicies", NS, "ghost").get("status") or {}).get("errors")
             == ["LauncherConfig nope not found"], "status error")
    assert all(p["metadata"]["labels"][N.LABEL_LAUNCHER_CONFIG] == "vllm" for p in launchers(rest))


def test_duplicate_launcher_config_name_is_rejected_by_the_crd(cluster) -> None:
    from fma.kube import Invalid

    obj = make_lpp("dup", {"vllm": 1})
    obj["spec"]["countForLauncher"].append({"launcherConfigName": "vllm", "launcherCount": 2})
    with pytest.raises(Invalid):
        cluster["rest"].create("launcherpopulationpolicies", NS, obj)
