"""Helpers shared by the kube contract tests (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
REAL = os.environ.get("FMA_TEST_KUBECONFIG")


class Cluster:
    def __init__(self, api: Any, url: str | None, kubeconfig: str, emulator: Any = None) -> None:
        from fma.kube import Rest

        self.api, self.url, self.kubeconfig, self.emulator = api, url, kubeconfig, emulator
        self.rest = Rest(api)

    @property
    def real(self) -> bool:
        return self.emulator is None


def pod(name: str | None = None, labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    md: dict[str, Any] = {"labels": labels or {}}
    if name:
        md["name"] = name
    else:
        md["generateName"] = "p-"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md,
            "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.9"}], **spec}}


def isc(name: str, port: Any = 8000, lc: str = "lc", **extra: Any) -> dict[str, Any]:
    return {"apiVersion": "fma.llm-d.ai/v1alpha1", "kind": "InferenceServerConfig", "metadata": {"name": name},
            "spec": {"modelServerConfig": {"port": port, **extra}, "launcherConfigName": lc}}


def eventually(fn: Any, timeout: float = 5.0, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            out = fn()
            if out:
                return out
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)
