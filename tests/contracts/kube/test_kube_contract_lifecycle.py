"""Deletion and ownership: finalizers, graceful pod deletion, cascading deletes, ReplicaSets, binding."""

from __future__ import annotations

import pytest
from kube_contract_support import Cluster, eventually, pod

from fma.kube import Conflict, LeaderElector, NotFound, add_finalizer, remove_finalizer

FIN = "dual-pods.llm-d.ai/requester"


def gone(cluster: Cluster, kind: str, ns: str, name: str) -> bool:
    try:
        cluster.rest.get(kind, ns, name)
        return False
    except NotFound:
        return True


def test_finalizer_keeps_an_object_until_removed(cluster: Cluster, ns: str) -> None:
    r = cluster.rest
    r.create("configmaps", ns, {"metadata": {"name": "f", "finalizers": [FIN]}})
    r.delete("configmaps", ns, "f")
    held = r.get("configmaps", ns, "f")
    assert held["metadata"]["deletionTimestamp"]
    with pytest.raises(Exception):
        r.patch("configmaps", ns, "f", {"metadata": {"finalizers": [FIN, "other.io/x"]}})
    assert remove_finalizer(r, "configmaps", ns, "f", FIN) is None or gone(cluster, "configmaps", ns, "f")
    assert gone(cluster, "configmaps", ns, "f")


def test_add_finalizer_is_idempotent(cluster: Cluster, ns: str) -> None:
    r = cluster.rest
    r.create("pods", ns, pod("af"))
    add_finalizer(r, "pods", ns, "af", FIN)
    out = add_finalizer(r, "pods", ns, "af", FIN)
    assert out["metadata"]["finalizers"] == [FIN]
    remove_finalizer(r, "pods", ns, "af", FIN)


def test_scheduled_pod_deletion_is_graceful_until_a_zero_grace_delete(cluster: Cluster, ns: str) -> None:
    r = cluster.rest
    r.create("pods", ns, pod("g", nodeName="node-a"))
    r.delete("pods", ns, "g")
    p = r.get("pods", ns, "g")
    assert p["metadata"]["deletionTimestamp"] and p["metadata"]["deletionGracePeriodSeconds"] == 30
    if cluster.real:
        return  # a real kubelet finishes it (or not, for a made-up node)
    r.delete("pods", ns, "g", grace_seconds=0)
    assert gone(cluster, "pods", ns, "g")


def test_unscheduled_pod_is_deleted_at_once(cluster: Cluster, ns: str) -> None:
    cluster.rest.create("pods", ns, pod("u"))
    cluster.rest.delete("pods", ns, "u")
    eventually(lambda: gone(cluster, "pods", ns, "u"))


def test_owner_reference_cascades_a_delete(cluster: Cluster, ns: str) -> None:
    r = cluster.rest
    owner = r.create("configmaps", ns, {"metadata": {"name": "owner"}})
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}
    r.create("pods", ns, {**pod("dep"), "metadata": {"name": "dep", "ownerReferences": [ref]}})
    r.delete("configmaps", ns, "owner")
    eventually(lambda: gone(cluster, "pods", ns, "dep"), timeout=30)


def test_replicaset_creates_owned_pods_and_trims_surplus(cluster: Cluster, ns: str) -> None:
    r = cluster.rest
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "req"},
          "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "req"}},
                   "template": {"metadata": {"labels": {"app": "req"}}, "spec": pod()["spec"]}}}
    made = r.create("replicasets", ns, rs)

    def pods() -> list[dict]:
        return r.list("pods", ns, label_selector="app=req")["items"]

    eventually(lambda: len(pods()) == 3, timeout=30)
    assert all(p["metadata"]["ownerReferences"][0]["uid"] == made["metadata"]["uid"] for p in pods())
    r.patch("replicasets", ns, "req", {"spec": {"replicas": 1}})
    eventually(lambda: len([p for p in pods() if not p["metadata"].get("deletionTimestamp")]) == 1, timeout=30)
    r.delete("replicasets", ns, "req")
    eventually(lambda: not [p for p in pods() if not p["metadata"].get("deletionTimestamp")], timeout=30)


def test_binding_assigns_a_node_once(cluster: Cluster, ns: str) -> None:
    r = cluster.rest
    r.create("pods", ns, pod("b"))
    body = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "b"},
            "target": {"apiVersion": "v1", "kind": "Node", "name": "node-a"}}
    r.call("POST", f"/api/v1/namespaces/{ns}/pods/b/binding", body)
    assert r.get("pods", ns, "b")["spec"]["nodeName"] == "node-a"
    with pytest.raises(Conflict):
        r.call("POST", f"/api/v1/namespaces/{ns}/pods/b/binding", {**body, "target": {"kind": "Node", "name": "n2"}})


def test_only_one_leader_holds_a_lease(cluster: Cluster, ns: str) -> None:
    a = LeaderElector(cluster.rest, ns, "ctl", "a", lease_duration=15)
    b = LeaderElector(cluster.rest, ns, "ctl", "b", lease_duration=15)
    assert a.try_acquire() is True
    assert b.try_acquire() is False
    assert a.try_acquire() is True
