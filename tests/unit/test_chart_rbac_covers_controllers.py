"""The chart's RBAC grants every (API group, resource, verb) the controllers use
(fma/kube/access.py), judged by the emulator's RBAC authorizer over the rendered Role,
ClusterRole and bindings, as the rendered Deployments' ServiceAccount. The e2e test
(test_deploy_rendered_chart_on_emulator.py) checks the other direction: a live run uses
nothing outside fma/kube/access.py."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("helm_python", reason="helm-python-sdk (Helm 4 SDK) is not installed")

from fma.cli.install import render  # noqa: E402
from fma.kube import access  # noqa: E402
from fma.kube.emulator.admission import service_account  # noqa: E402
from fma.kube.emulator.api import Api  # noqa: E402
from fma.kube.emulator.errors import ApiError  # noqa: E402
from fma.kube.emulator.rbac import Authorizer  # noqa: E402

NS = "fma-system"
RBAC_KINDS = {"Namespace", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"}


def cluster_with_chart(values: dict[str, Any] | None = None) -> tuple[Api, dict[str, str]]:
    """An emulator API holding the chart's RBAC objects; returns it and each Deployment's ServiceAccount
    keyed by its component label."""
    objs = render(values, namespace=NS, release="rel", include_crds=False, create_namespace=True)
    api = Api()
    for o in objs:
        if o["kind"] not in RBAC_KINDS:
            continue
        group_version = o["apiVersion"]
        plural = {"Namespace": "namespaces", "Role": "roles", "RoleBinding": "rolebindings",
                  "ClusterRole": "clusterroles", "ClusterRoleBinding": "clusterrolebindings"}[o["kind"]]
        base = f"/api/{group_version}" if "/" not in group_version else f"/apis/{group_version}"
        ns = o["metadata"].get("namespace")
        t = api.route(f"{base}/namespaces/{ns}/{plural}" if ns else f"{base}/{plural}")
        assert t is not None
        api.create(t, o, {})
    sas = {d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]:
           d["spec"]["template"]["spec"]["serviceAccountName"] for d in objs if d["kind"] == "Deployment"}
    return api, sas


def denied(api: Api, sa: str, needs: list[access.Need]) -> list[access.Need]:
    authz, user, out = Authorizer("RBAC"), service_account(NS, sa), []
    for n in needs:
        try:
            authz.check(api.store, user, n.verb, n.group, n.resource, "" if n.cluster else NS)
        except ApiError:
            out.append(n)
    return out


def test_chart_rbac_grants_every_access_each_controller_uses() -> None:
    api, sas = cluster_with_chart()
    assert set(sas) == set(access.NEEDS), sas
    for component, needs in access.NEEDS.items():
        assert denied(api, sas[component], needs) == [], f"{component}: the chart does not grant these"


def test_chart_without_node_view_denies_only_the_optional_node_watch_of_the_dual_pods_controller() -> None:
    api, sas = cluster_with_chart({"nodeView": {"create": False}})
    missing = denied(api, sas[access.CONTROLLER], access.NEEDS[access.CONTROLLER])
    assert missing and all(n.optional and n.resource == "nodes" for n in missing), missing


def test_chart_with_an_operator_supplied_node_view_cluster_role_binds_it() -> None:
    api, sas = cluster_with_chart({"nodeView": {"create": False}, "global": {"nodeViewClusterRole": "ops-nodes"}})
    t = api.route("/apis/rbac.authorization.k8s.io/v1/clusterroles")
    assert t is not None
    api.create(t, {"metadata": {"name": "ops-nodes"},
                   "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]}]}, {})
    assert denied(api, sas[access.CONTROLLER], access.NEEDS[access.CONTROLLER]) == []


def test_chart_without_leader_election_grants_no_leases() -> None:
    api, sas = cluster_with_chart({"leaderElection": {"enabled": False}})
    missing = denied(api, sas[access.CONTROLLER], access.NEEDS[access.CONTROLLER])
    assert {n.resource for n in missing} == {"leases"}


def test_emulator_rbac_denial_reads_like_the_real_servers() -> None:
    api, sas = cluster_with_chart()
    with pytest.raises(ApiError) as err:
        Authorizer("RBAC").check(api.store, service_account(NS, sas[access.CONTROLLER]), "delete", "", "nodes", "",
                                 "node-1")
    assert err.value.code == 403
    assert err.value.status()["message"] == (
        f'nodes "node-1" is forbidden: User "system:serviceaccount:{NS}:{sas[access.CONTROLLER]}" cannot delete '
        'resource "nodes" in API group "" at the cluster scope')
