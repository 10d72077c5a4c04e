"""The kube contract suite runs against the API server emulator by default and against a
real cluster when ``FMA_TEST_KUBECONFIG`` names a kubeconfig (the FMA CRDs must be
installed there). Each test gets a fresh namespace."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from kube_contract_support import REAL, ROOT, Cluster  # noqa: E402


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    from fma.kube import load_client

    if REAL:
        api = load_client(REAL)
        yield Cluster(api, None, REAL)
        api.close()
        return
    from fma.kube.emulator import Emulator

    emu = Emulator(port=0, crd_dir=str(ROOT / "crds"), history=200, bookmark_interval=0.2).start()
    kc = str(tmp_path_factory.mktemp("kube") / "kubeconfig")
    emu.write_kubeconfig(kc)
    api = emu.api_client()
    yield Cluster(api, emu.url, kc, emu)
    api.close()
    emu.stop()


@pytest.fixture
def ns(cluster: Cluster) -> Iterator[str]:
    name = f"fma-ct-{uuid.uuid4().hex[:8]}"
    cluster.rest.create("namespaces", None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    yield name
    try:
        cluster.rest.delete("namespaces", None, name)
    except Exception:  # noqa: BLE001 - best effort cleanup
        pass


