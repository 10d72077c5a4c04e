"""fma local's scheduling decisions (pure) and pod IPs."""

from __future__ import annotations

import pytest

from fma.local.placement import ClusterState, Unschedulable, gpu_demand, node_matches
from fma.local.podnet import PodIPAllocator


def node(name: str, **labels: str) -> dict:
    return {"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **labels}}}


def pod(gpus: int = 0, **spec: object) -> dict:
    res = {"limits": {"nvidia.com/gpu": str(gpus)}} if gpus else {}
    return {"metadata": {"name": "p", "namespace": "default"},
            "spec": {"containers": [{"name": "c", "resources": res}], **spec}}


def cluster(n: int = 2, g: int = 4) -> ClusterState:
    st = ClusterState()
    for i in range(n):
        st.add_node(node(f"node-{i}"), [f"GPU-{i}-{j}" for j in range(g)])
    return st


def test_gpu_demand_sums_containers_limits_then_requests() -> None:
    p = {"spec": {"containers": [{"resources": {"limits": {"nvidia.com/gpu": "2"}}},
                                 {"resources": {"requests": {"nvidia.com/gpu": 1}}}, {}]}}
    assert gpu_demand(p) == 3


def test_gpu_pods_bin_pack_onto_lowest_free_gpus_of_first_node() -> None:
    st = cluster()
    a = st.place(pod(1))
    assert (a.node, a.gpus) == ("node-0", ("GPU-0-0",))
    st.record("default/a", a.node, a.gpus)
    b = st.place(pod(2))
    assert (b.node, b.gpus) == ("node-0", ("GPU-0-1", "GPU-0-2"))


def test_released_gpus_are_given_to_the_next_pod_so_a_returning_requester_finds_its_sleeper() -> None:
    st = cluster()
    a = st.place(pod(1))
    st.record("default/a", a.node, a.gpus)
    st.release("default/a")
    assert st.place(pod(1)).gpus == a.gpus


def test_full_node_sends_pod_to_next_and_no_room_is_unschedulable_with_reasons() -> None:
    st = cluster(2, 1)
    st.record("default/a", "node-0", ["GPU-0-0"])
    assert st.place(pod(1)).node == "node-1"
    st.record("default/b", "node-1", ["GPU-1-0"])
    with pytest.raises(Unschedulable, match="node-0: 0 of 1 GPUs free, pod needs 1"):
        st.place(pod(1))


def test_node_name_selector_and_affinity_restrict_placement() -> None:
    st = cluster()
    assert st.place(pod(1, nodeName="node-1")).node == "node-1"
    assert st.place(pod(0, nodeSelector={"kubernetes.io/hostname": "node-1"})).node == "node-1"
    aff = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-1"]}]}]}}}
    assert st.place(pod(2, affinity=aff)).node == "node-1"
    assert node_matches(pod(0, nodeSelector={"x": "y"}), node("n")) == "node selector x=y does not match"


def test_gpu_less_pods_spread_over_nodes() -> None:
    st = cluster()
    first = st.place(pod())
    st.record("default/a", first.node, ())
    assert st.place(pod()).node != first.node


def test_pod_ips_are_distinct_loopback_addresses_and_reused_after_release() -> None:
    alloc = PodIPAllocator(first="127.0.1.254", last="127.0.2.2")
    a, b = alloc.allocate("a"), alloc.allocate("b")
    assert (a, b) == ("127.0.1.254", "127.0.2.1")  # .255 and .0 skipped
    assert alloc.allocate("a") == a
    alloc.release("a")
    assert alloc.allocate("c") == "127.0.2.2"
    assert alloc.allocate("d") == a


def test_pods_created_in_the_same_second_get_gpus_in_the_order_they_arrived_not_by_name() -> None:
    from fma.local.memkube import MemKube
    from fma.local.placement import ANN_GPUS
    from fma.local.scheduler import Scheduler

    kube, st = MemKube(), cluster(1, 4)
    sched = Scheduler(kube, st)
    for name in ("w-llama-a", "w-qwen-a", "w-llama-b"):   # name order differs from arrival order
        p = pod(1)
        p["metadata"] = {"name": name, "namespace": "default", "uid": name}
        created = kube.create_pod("default", p)
        created["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z"  # one-second resolution: a tie
        sched._on_event("ADDED", created)
    sched._schedule_pending()
    got = {n: kube.get_pod("default", n)["metadata"]["annotations"][ANN_GPUS] for n in ("w-llama-a", "w-qwen-a", "w-llama-b")}
    assert got == {"w-llama-a": "GPU-0-0", "w-qwen-a": "GPU-0-1", "w-llama-b": "GPU-0-2"}
