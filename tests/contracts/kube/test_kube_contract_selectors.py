"""Label selectors (=, ==, !=, in, notin, exists, !) and field selectors on lists."""

from __future__ import annotations

import pytest
from kube_contract_support import Cluster, pod

from fma.kube import KubeError


@pytest.fixture
def labelled(cluster: Cluster, ns: str) -> str:
    for name, labels in (("a", {"app": "x", "tier": "fe"}), ("b", {"app": "y"}), ("c", {"tier": "be"})):
        cluster.rest.create("pods", ns, pod(name, labels))
    return ns


@pytest.mark.parametrize("selector, names", [
    ("app=x", {"a"}), ("app==x", {"a"}), ("app!=x", {"b", "c"}), ("app in (x,y)", {"a", "b"}),
    ("app notin (x)", {"b", "c"}), ("tier", {"a", "c"}), ("!tier", {"b"}), ("app=x,tier=fe", {"a"}),
    ("app,!tier", {"b"}),
])
def test_label_selector_operators_pick_the_right_pods(cluster: Cluster, labelled: str, selector: str,
                                                      names: set[str]) -> None:
    items = cluster.rest.list("pods", labelled, label_selector=selector)["items"]
    assert {p["metadata"]["name"] for p in items} == names


def test_field_selectors_on_pod_name_node_and_phase(cluster: Cluster, labelled: str) -> None:
    r = cluster.rest
    assert [p["metadata"]["name"] for p in r.list("pods", labelled, field_selector="metadata.name=b")["items"]] == ["b"]
    assert len(r.list("pods", labelled, field_selector="spec.nodeName=")["items"]) == 3
    assert len(r.list("pods", labelled, field_selector="status.phase=Pending,metadata.name!=a")["items"]) == 2


def test_unsupported_field_selector_is_400(cluster: Cluster, labelled: str) -> None:
    with pytest.raises(KubeError) as err:
        cluster.rest.list("pods", labelled, field_selector="spec.hostname=x")
    assert err.value.status == 400
