"""Patch kinds: strategic merge (pods), JSON merge, JSON patch with ``test``; pod spec immutability."""

from __future__ import annotations

import pytest
from kube_contract_support import Cluster, isc, pod

from fma.kube import Invalid, KubeError, patch_pod_annotations


def test_strategic_merge_merges_containers_and_env_by_name(cluster: Cluster, ns: str) -> None:
    r = cluster.rest
    p = pod("sm")
    p["spec"]["containers"][0]["env"] = [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    r.create("pods", ns, p)
    out = r.patch("pods", ns, "sm", {"metadata": {"labels": {"l": "v"}}, "spec": {"containers": [
        {"name": "c", "image": "registry.k8s.io/pause:3.10"}]}}, "strategic")
    c = out["spec"]["containers"][0]
    assert c["image"].endswith("3.10")
    assert {e["name"]: e["value"] for e in c["env"]} == {"A": "1", "B": "2"}  # merged by name, not replaced
    assert out["metadata"]["labels"] == {"l": "v"}


def test_strategic_delete_directive_removes_one_env_entry(cluster: Cluster, ns: str) -> None:
    r = cluster.rest
    p = pod("del")
    p["spec"]["containers"][0]["env"] = [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    r.create("pods", ns, p)
    r.patch("pods", ns, "del", {"metadata": {"annotations": {"x": "1"}}}, "strategic")
    out = r.get("pods", ns, "del")
    assert [e["name"] for e in out["spec"]["containers"][0]["env"]] == ["A", "B"]
    # spec is immutable on pods, so check $patch: delete on a mutable list: finalizers + annotations via merge
    out = r.patch("pods", ns, "del", {"metadata": {"finalizers": ["x.io/a", "x.io/b"]}}, "strategic")
    out = r.patch("pods", ns, "del", {"metadata": {"$deleteFromPrimitiveList/finalizers": ["x.io/a"]}}, "strategic")
    assert out["metadata"]["finalizers"] == ["x.io/b"]
    r.patch("pods", ns, "del", {"metadata": {"finalizers": None}}, "merge")


def test_json_merge_patch_null_removes_a_key(cluster: Cluster, ns: str) -> None:
    r = cluster.rest
    r.create("configmaps", ns, {"metadata": {"name": "m"}, "data": {"a": "1", "b": "2"}})
    assert r.patch("configmaps", ns, "m", {"data": {"a": None, "c": "3"}}, "merge")["data"] == {"b": "2", "c": "3"}


def test_json_patch_with_failed_test_is_422_and_changes_nothing(cluster: Cluster, ns: str) -> None:
    r = cluster.rest
    seen = r.create("pods", ns, pod("jp"))
    patch_pod_annotations(r, ns, "jp", {"dual-pods.llm-d.ai/status": "{}"}, expect=seen)
    with pytest.raises(Invalid):
        patch_pod_annotations(r, ns, "jp", {"dual-pods.llm-d.ai/status": "stale"}, expect=seen)
    assert r.get("pods", ns, "jp")["metadata"]["annotations"] == {"dual-pods.llm-d.ai/status": "{}"}


def test_strategic_merge_on_a_custom_resource_is_415(cluster: Cluster, ns: str) -> None:
    cluster.rest.create("inferenceserverconfigs", ns, isc("sm"))
    with pytest.raises(KubeError) as err:
        cluster.rest.patch("inferenceserverconfigs", ns, "sm", {"spec": {"launcherConfigName": "x"}}, "strategic")
    assert err.value.status == 415


def test_changing_a_pod_spec_beyond_image_is_forbidden(cluster: Cluster, ns: str) -> None:
    cluster.rest.create("pods", ns, pod("imm"))
    with pytest.raises(Invalid) as err:
        cluster.rest.patch("pods", ns, "imm", {"spec": {"restartPolicy": "Never"}}, "strategic")
    assert "Forbidden: pod updates may not change fields other than" in err.value.message
