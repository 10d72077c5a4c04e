"""`fma local` end to end: the demo scenario on the sim engine, its JSON summary, and a
clean shutdown (no process left behind) on Ctrl-C."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from fma.local.procs import descendants

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("fma.kube.emulator") is None,
                       reason="fma local needs the API server emulator (fma.kube.emulator), not present yet"),
]


def fma(*args: str) -> list[str]:
    return [sys.executable, "-m", "fma", *args]


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.timeout(240)
@pytest.mark.skipif(importlib.util.find_spec("fma.cli.controller") is None,
                    reason="the dual-pods controller (fma controller) is not present yet")
def test_demo_scenario_shows_cold_then_hot_after_sleep_then_warm_and_hot_on_launchers_and_exits_0(tmp_path) -> None:
    out = subprocess.run(fma("local", "--json", "--state-dir", str(tmp_path / "state")), capture_output=True,
                         text=True, timeout=220)
    assert out.returncode == 0, f"fma local failed:\n{out.stderr[-4000:]}"
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    for key in ("requesters", "gpu_seconds", "starts", "mean_ready_seconds", "wakes", "sleeps", "errors"):
        assert key in summary
    for r in summary["requesters"]:
        assert set(r) >= {"name", "mode", "start", "ready_seconds"}
        assert r["mode"] in ("direct", "launcher") and r["start"] in ("hot", "warm", "cold")
    kinds = {r["name"]: r["start"] for r in summary["requesters"]}
    assert kinds["chat-1"] == "cold" and kinds["chat-2"] == "hot"      # direct: cold, then hot after sleep
    assert kinds["qwen-1"] == "warm" and kinds["llama-1"] == "warm"     # launcher: populated launchers, warm
    assert kinds["qwen-2"] == "hot"                                       # the sleeping instance is woken
    m = summary["mean_ready_seconds"]
    print("mean ready seconds:", m)
    assert m["hot"] < m["warm"] < m["cold"]
    assert set(summary["gpu_seconds"]) >= {"requested", "serving", "always_on"}


@pytest.mark.timeout(120)
def test_ctrl_c_leaves_no_process_that_fma_local_started(tmp_path) -> None:
    proc = subprocess.Popen(fma("local", "--serve", "--state-dir", str(tmp_path / "state"),
                                "--kubeconfig-out", str(tmp_path / "kubeconfig")),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        seen: set[int] = set()
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if "serving" in line or not line:
                break
        assert proc.poll() is None, proc.stderr.read()
        assert (tmp_path / "kubeconfig").exists()
        time.sleep(1.0)
        seen.update(descendants(proc.pid))
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) in (0, 130)
    finally:
        if proc.poll() is None:
            proc.kill()
    time.sleep(0.2)
    assert [p for p in seen if alive(p)] == []
