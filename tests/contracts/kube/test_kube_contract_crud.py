"""Create/update semantics: optimistic concurrency, names, generation, status subresource, dry-run."""

from __future__ import annotations

import pytest
from kube_contract_support import Cluster, isc, pod

from fma.kube import Conflict, NotFound


def test_update_with_stale_resource_version_is_409_conflict(cluster: Cluster, ns: str) -> None:
    r = cluster.rest
    first = r.create("configmaps", ns, {"metadata": {"name": "cm"}, "data": {"a": "1"}})
    r.replace("configmaps", ns, "cm", {**first, "data": {"a": "2"}})
    with pytest.raises(Conflict) as err:
        r.replace("configmaps", ns, "cm", {**first, "data": {"a": "3"}})
    assert err.value.reason == "Conflict"
    assert "the object has been modified; please apply your changes to the latest version" in err.value.message
    assert r.get("configmaps", ns, "cm")["data"] == {"a": "2"}


def test_create_existing_name_is_409_already_exists(cluster: Cluster, ns: str) -> None:
    cluster.rest.create("pods", ns, pod("a"))
    with pytest.raises(Conflict) as err:
        cluster.rest.create("pods", ns, pod("a"))
    assert err.value.reason == "AlreadyExists" and 'pods "a" already exists' in err.value.message


def test_generate_name_gives_unique_names_and_uids(cluster: Cluster, ns: str) -> None:
    made = [cluster.rest.create("pods", ns, pod()) for _ in range(5)]
    names = {p["metadata"]["name"] for p in made}
    uids = {p["metadata"]["uid"] for p in made}
    assert len(names) == 5 and len(uids) == 5 and all(n.startswith("p-") for n in names)


def test_resource_versions_increase_with_every_write(cluster: Cluster, ns: str) -> None:
    a = cluster.rest.create("configmaps", ns, {"metadata": {"name": "x"}})
    b = cluster.rest.patch("configmaps", ns, "x", {"data": {"k": "v"}})
    assert int(b["metadata"]["resourceVersion"]) > int(a["metadata"]["resourceVersion"])


def test_spec_change_bumps_generation_but_label_change_does_not(cluster: Cluster, ns: str) -> None:
    r = cluster.rest
    assert r.create("inferenceserverconfigs", ns, isc("g"))["metadata"]["generation"] == 1
    assert r.patch("inferenceserverconfigs", ns, "g", {"metadata": {"labels": {"x": "y"}}})["metadata"]["generation"] == 1
    assert r.patch("inferenceserverconfigs", ns, "g", {"spec": {"launcherConfigName": "other"}})["metadata"][
        "generation"] == 2


def test_status_subresource_ignores_spec_and_main_resource_ignores_status(cluster: Cluster, ns: str) -> None:
    r = cluster.rest
    r.create("inferenceserverconfigs", ns, isc("s"))
    out = r.patch("inferenceserverconfigs", ns, "s", {"spec": {"launcherConfigName": "x"}, "status": {"errors": ["e"]}},
                  sub="status")
    assert out["status"] == {"errors": ["e"]} and out["spec"]["launcherConfigName"] == "lc"
    out = r.patch("inferenceserverconfigs", ns, "s", {"status": {"errors": ["other"]}})
    assert out["status"] == {"errors": ["e"]}


def test_noop_patch_keeps_resource_version(cluster: Cluster, ns: str) -> None:
    a = cluster.rest.create("configmaps", ns, {"metadata": {"name": "n"}, "data": {"a": "1"}})
    b = cluster.rest.patch("configmaps", ns, "n", {"data": {"a": "1"}})
    assert a["metadata"]["resourceVersion"] == b["metadata"]["resourceVersion"]


def test_dry_run_create_stores_nothing(cluster: Cluster, ns: str) -> None:
    out = cluster.rest.create("configmaps", ns, {"metadata": {"name": "dry"}}, dry_run=True)
    assert out["metadata"]["name"] == "dry"
    with pytest.raises(NotFound):
        cluster.rest.get("configmaps", ns, "dry")


def test_create_in_missing_namespace_is_404(cluster: Cluster) -> None:
    with pytest.raises(NotFound) as err:
        cluster.rest.create("configmaps", "no-such-namespace-fma", {"metadata": {"name": "x"}})
    assert 'namespaces "no-such-namespace-fma" not found' in err.value.message
