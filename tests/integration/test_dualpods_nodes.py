"""The live dual-pods controller watches Nodes through the official client (against the
API server emulator): a deleted Node's bound requester is deleted; without the right to
list nodes (403) it warns once, runs on, and picks the watch up once allowed."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from kubernetes import client

from fma.controllers.dualpods import names as N
from fma.controllers.dualpods.controller import DualPodsController
from fma.kube.dualpods_port import ClientKubePort
from fma.kube.emulator import Emulator
from fma.kube.emulator.rbac import RBAC_GROUP as RBAC, Authorizer
from tests.support import eventually as _until

ROOT = Path(__file__).resolve().parents[2]
PATCH = "spec:\n  containers:\n  - name: inference-server\n    args: [--model, m]\n"


def _pod(core: client.CoreV1Api, name: str) -> dict | None:
    try:
        return core.api_client.sanitize_for_serialization(core.read_namespaced_pod(name, "default"))
    except client.ApiException as exc:
        if exc.status == 404:
            return None
        raise


def _gone_or_deleting(core: client.CoreV1Api, name: str) -> bool:
    p = _pod(core, name)
    return p is None or bool(p["metadata"].get("deletionTimestamp"))


def _bound_pair(core: client.CoreV1Api, node: str) -> tuple[str, str]:
    """A requester on ``node`` already bound to a starting (not ready) provider."""
    c = {"name": "inference-server", "image": "x"}
    r = core.create_namespaced_pod("default", {
        "metadata": {"name": f"req-{node}", "annotations": {N.ANN_SERVER_PATCH: PATCH}},
        "spec": {"nodeName": node, "containers": [c]}})
    core.create_namespaced_pod("default", {
        "metadata": {"name": f"prov-{node}", "labels": {N.LBL_DUAL: r.metadata.name},
                     "annotations": {N.ANN_NOMINAL: "n0", N.ANN_REQUESTER: f"{r.metadata.uid} {r.metadata.name}"},
                     "finalizers": [N.FIN_PROVIDER]},
        "spec": {"nodeName": node, "containers": [c]}})
    return r.metadata.name, f"prov-{node}"


@pytest.fixture
def cluster():
    with Emulator(port=0, crd_dir=str(ROOT / "crds")) as emu:
        api = emu.api_client()
        core = client.CoreV1Api(api)
        for n in ("n1", "n2"):
            core.create_node({"metadata": {"name": n}})
        yield emu, api, core


def _dual_label(core: client.CoreV1Api, name: str) -> str | None:
    p = _pod(core, name)
    return ((p or {}).get("metadata", {}).get("labels") or {}).get(N.LBL_DUAL)


@pytest.mark.timeout(60)
def test_deleting_a_node_deletes_the_requester_bound_there_and_only_that_one(cluster) -> None:
    emu, api, core = cluster
    r1, _ = _bound_pair(core, "n1")
    r2, p2 = _bound_pair(core, "n2")
    port = ClientKubePort(api, "default")
    ctl = DualPodsController(port, workers=2).start()
    try:
        # the controller has seen both bindings (it completes them: the requester's dual label)
        _until(lambda: _dual_label(core, r1) and _dual_label(core, r2), what="upkeep of both requesters")
        assert ctl.snapshot().nodes == {"n1", "n2"}
        core.delete_node("n1")
        _until(lambda: _gone_or_deleting(core, r1), what=f"{r1} deleted after its node went")
        assert ctl.wait_idle(10)
        assert not _gone_or_deleting(core, r2) and not _gone_or_deleting(core, p2)
    finally:
        ctl.stop()
        port.stop()


@pytest.mark.timeout(60)
def test_without_the_right_to_list_nodes_it_warns_once_runs_on_and_resumes_when_allowed(
        cluster, caplog: pytest.LogCaptureFixture) -> None:
    emu, api, core = cluster
    sa = "system:serviceaccount:default:fma-controller"
    # RBAC: the controller's account may do anything in its namespace, but no
    # ClusterRoleBinding lets it see nodes yet
    emu.api.authorizer = Authorizer("RBAC")
    rbac = client.RbacAuthorizationV1Api(api)
    everything = [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]
    rbac.create_namespaced_role("default", {"metadata": {"name": "all"}, "rules": everything})
    rbac.create_namespaced_role_binding("default", {
        "metadata": {"name": "all"}, "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": "all"},
        "subjects": [{"kind": "ServiceAccount", "name": "fma-controller", "namespace": "default"}]})
    r1, _ = _bound_pair(core, "n1")
    cfg = client.Configuration()
    cfg.host, cfg.api_key = emu.url, {"authorization": "Bearer sa:default:fma-controller"}
    port = ClientKubePort(client.ApiClient(cfg), "default", forbidden_retry=0.3)
    caplog.set_level(logging.INFO, logger="fma.kube.dualpods_port")
    ctl = DualPodsController(port, workers=2).start()
    try:
        _until(lambda: _dual_label(core, r1), what="upkeep of the requester")
        time.sleep(0.7)  # two refused retries more: still one warning
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "nodes" in r.getMessage()]
        assert len(warnings) == 1, [r.getMessage() for r in warnings]
        msg = warnings[0].getMessage()
        assert "403" in msg and "nodeViewClusterRole" in msg and f'User "{sa}" cannot list resource "nodes"' in msg
        assert ctl.snapshot().nodes is None
        core.delete_node("n1")
        assert ctl.wait_idle(10)
        assert not _gone_or_deleting(core, r1)  # a node it cannot see is not taken for gone
        rbac.create_cluster_role({"metadata": {"name": "node-view"}, "rules": [
            {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]}]})
        rbac.create_cluster_role_binding({
            "metadata": {"name": "node-view"},
            "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "node-view"},
            "subjects": [{"kind": "ServiceAccount", "name": "fma-controller", "namespace": "default"}]})
        _until(lambda: _gone_or_deleting(core, r1), what=f"{r1} deleted once nodes may be watched")
        assert any("may be listed now" in r.getMessage() for r in caplog.records)
    finally:
        ctl.stop()
        port.stop()
