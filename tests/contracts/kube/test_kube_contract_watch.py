"""Watch semantics: ordering, resourceVersion starts, selectors, bookmarks, 410 and relist."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from kube_contract_support import Cluster, eventually, pod

from fma.kube import Informer


def watch_events(cluster: Cluster, ns: str, rv: str, timeout: int = 1, **q: str) -> list[dict[str, Any]]:
    resp = cluster.rest.call("GET", f"/api/v1/namespaces/{ns}/pods", stream=True,
                             query={"watch": "true", "resourceVersion": rv, "timeoutSeconds": str(timeout), **q})
    out = [json.loads(line) for line in resp.data.splitlines() if line.strip()]
    return out


def test_watch_delivers_changes_in_resource_version_order(cluster: Cluster, ns: str) -> None:
    r = cluster.rest
    rv = r.list("pods", ns)["metadata"]["resourceVersion"]
    r.create("pods", ns, pod("w"))
    for i in range(5):
        r.patch("pods", ns, "w", {"metadata": {"labels": {"i": str(i)}}})
    r.delete("pods", ns, "w")
    evs = watch_events(cluster, ns, rv)
    assert [e["type"] for e in evs] == ["ADDED"] + ["MODIFIED"] * 5 + ["DELETED"]
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in evs]
    assert rvs == sorted(rvs) and len(set(rvs)) == len(rvs)


def test_watch_from_a_list_version_sees_only_later_changes(cluster: Cluster, ns: str) -> None:
    r = cluster.rest
    r.create("pods", ns, pod("before"))
    rv = r.list("pods", ns)["metadata"]["resourceVersion"]
    r.create("pods", ns, pod("after"))
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in watch_events(cluster, ns, rv)] == [("ADDED", "after")]


def test_watch_without_version_starts_with_current_objects(cluster: Cluster, ns: str) -> None:
    cluster.rest.create("pods", ns, pod("there"))
    evs = watch_events(cluster, ns, "")
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in evs] == [("ADDED", "there")]


def test_label_selector_watch_sees_an_object_leaving_as_deleted(cluster: Cluster, ns: str) -> None:
    r = cluster.rest
    r.create("pods", ns, pod("sel", {"app": "x"}))
    rv = r.list("pods", ns)["metadata"]["resourceVersion"]
    r.patch("pods", ns, "sel", {"metadata": {"labels": {"app": "y"}}})
    r.patch("pods", ns, "sel", {"metadata": {"labels": {"app": "x"}}})
    assert [e["type"] for e in watch_events(cluster, ns, rv, labelSelector="app=x")] == ["DELETED", "ADDED"]


def test_watch_from_an_expired_version_gets_410_expired(cluster: Cluster, ns: str) -> None:
    if cluster.real:
        pytest.skip("a real cluster keeps minutes of history; expiry cannot be forced quickly")
    r = cluster.rest
    rv = r.list("pods", ns)["metadata"]["resourceVersion"]
    r.create("configmaps", ns, {"metadata": {"name": "churn"}})
    for i in range(cluster.emulator.api.store.max_history * 2 + 5):
        r.patch("configmaps", ns, "churn", {"data": {"i": str(i)}})
    evs = watch_events(cluster, ns, rv)
    assert evs[-1]["type"] == "ERROR" and evs[-1]["object"]["code"] == 410
    assert evs[-1]["object"]["reason"] == "Expired"


def test_bookmarks_carry_the_current_resource_version(cluster: Cluster, ns: str) -> None:
    if cluster.real:
        pytest.skip("real API servers send bookmarks about once a minute")
    rv = cluster.rest.list("pods", ns)["metadata"]["resourceVersion"]
    evs = watch_events(cluster, ns, rv, timeout=1, allowWatchBookmarks="true")
    marks = [e for e in evs if e["type"] == "BOOKMARK"]
    assert marks and int(marks[-1]["object"]["metadata"]["resourceVersion"]) >= int(rv)


def test_informer_relists_after_410_and_converges(cluster: Cluster, ns: str) -> None:
    if cluster.real:
        pytest.skip("expiry cannot be forced on a real cluster")
    r = cluster.rest
    seen: dict[str, str] = {}
    lock = threading.Lock()

    def on_event(typ: str, obj: dict[str, Any]) -> None:
        with lock:
            if typ == "DELETED":
                seen.pop(obj["metadata"]["name"], None)
            else:
                seen[obj["metadata"]["name"]] = obj["metadata"].get("labels", {}).get("v", "")

    inf = Informer(cluster.api, "pods", ns, on_event=on_event, watch_timeout=1)
    inf.start()
    try:
        assert inf.wait_synced(5)
        inf.resource_version = "1"  # as if the watch fell far behind: the next watch gets 410
        for name in ("a", "b"):
            r.create("pods", ns, pod(name))
        r.patch("pods", ns, "a", {"metadata": {"labels": {"v": "2"}}})
        r.delete("pods", ns, "b")
        eventually(lambda: seen == {"a": "2"})
        assert inf.get(ns, "a")["metadata"]["labels"] == {"v": "2"}
    finally:
        inf.stop()


def test_informer_indexes_pods_by_node_and_label(cluster: Cluster, ns: str) -> None:
    r = cluster.rest
    inf = Informer(cluster.api, "pods", ns).start()
    try:
        r.create("pods", ns, pod("n1", {"role": "x"}, nodeName="node-a"))
        r.create("pods", ns, pod("n2", {"role": "y"}))
        eventually(lambda: len(inf.list()) == 2)
        assert [p["metadata"]["name"] for p in inf.by_node("node-a")] == ["n1"]
        assert [p["metadata"]["name"] for p in inf.by_label("role", "y")] == ["n2"]
    finally:
        inf.stop()
