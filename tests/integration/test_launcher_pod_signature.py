"""The launcher keeps its pod's instance-signature annotation current on a real API (the emulator)."""

from __future__ import annotations

import time
from pathlib import Path

from launcher.podnotifier import ANNOTATION, KubePodPatcher, PodNotifier, signature

ROOT = Path(__file__).resolve().parents[2]


class _Inst:
    def __init__(self, iid: str, status: str) -> None:
        self.instance_id = iid
        self._status = status

    def status(self) -> str:
        return self._status


class _Node:
    """The slice of launcher.node.Node the notifier reads."""

    def __init__(self) -> None:
        import threading

        self.lock = threading.RLock()
        self.instances: dict[str, _Inst] = {}
        self._listeners: list = []

    def add_listener(self, fn) -> None:  # type: ignore[no-untyped-def]
        self._listeners.append(fn)

    def change(self, iid: str, status: str) -> None:
        with self.lock:
            self.instances[iid] = _Inst(iid, status)
        for fn in self._listeners:
            fn()


def test_launcher_pod_annotation_tracks_instance_signature_through_the_api(tmp_path: Path) -> None:
    from fma.kube import Rest, load_client
    from fma.kube.emulator import Emulator

    with Emulator(port=0, crd_dir=str(ROOT / "crds")) as emu:
        rest = Rest(load_client(url=emu.url))
        rest.create("pods", "default", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "launcher-x"},
                                        "spec": {"containers": [{"name": "inference-server", "image": "x"}]}})
        node = _Node()
        notifier = PodNotifier(node, "default", "launcher-x", KubePodPatcher(url=emu.url), retry_s=0.05)
        try:
            node.change("I1", "running")
            want = signature([("I1", "running")])
            deadline = time.monotonic() + 10
            got = None
            while time.monotonic() < deadline:
                got = rest.get("pods", "default", "launcher-x")["metadata"].get("annotations", {}).get(ANNOTATION)
                if got == want:
                    break
                time.sleep(0.05)
            assert got == want
        finally:
            notifier.close()
