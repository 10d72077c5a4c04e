"""`fma controller --leader-elect`: one replica reconciles; a stopped leader hands over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LEASE = "fma-dual-pods-controller"


def _holder(rest: object) -> str | None:
    from fma.kube import NotFound

    try:
        return rest.get("leases", "default", LEASE)["spec"].get("holderIdentity")  # type: ignore[attr-defined]
    except NotFound:
        return None


def _wait(fn, timeout: float = 20.0):  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = fn()
        if got:
            return got
        time.sleep(0.1)
    return fn()


@pytest.mark.timeout(90)
def test_only_the_lease_holder_reconciles_and_a_stopped_leader_hands_over(tmp_path: Path) -> None:
    from fma.kube import Rest, load_client
    from fma.kube.emulator import Emulator

    with Emulator(port=0, crd_dir=str(ROOT / "crds")) as emu:
        kcfg = tmp_path / "kubeconfig"
        emu.write_kubeconfig(str(kcfg))
        rest = Rest(load_client(url=emu.url))

        def start() -> subprocess.Popen:
            return subprocess.Popen([sys.executable, "-m", "fma", "controller", "--kubeconfig", str(kcfg),
                                     "--namespace", "default", "--metrics-port", "0", "--leader-elect"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        first = start()
        try:
            leader = _wait(lambda: _holder(rest))
            assert leader and leader.endswith(f"-{first.pid}")
            second = start()
            try:
                time.sleep(3)  # a retry period and more: the follower must not take the lease
                assert _holder(rest) == leader
                first.send_signal(signal.SIGTERM)
                assert first.wait(timeout=20) == 0
                new = _wait(lambda: (_holder(rest) or "").endswith(f"-{second.pid}") and _holder(rest))
                assert new and new.endswith(f"-{second.pid}")
            finally:
                second.terminate()
                second.wait(timeout=20)
        finally:
            if first.poll() is None:
                first.kill()
                first.wait()
    assert not any(p.poll() is None for p in (first,)), os.getpid()
