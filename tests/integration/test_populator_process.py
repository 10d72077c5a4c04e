"""`fma populator` as a process against the API server emulator: launchers appear, the
metrics endpoint answers, the event log holds the pair's decisions, SIGTERM stops it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from fma.controllers.populator import names as N
from fma.controllers.populator.memport import make_lc, make_lpp, make_node
from fma.events import read_log_file

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_fma_populator_process_keeps_one_launcher_per_gpu_node(tmp_path: Path) -> None:
    from fma.kube import Rest
    from fma.kube.emulator import Emulator

    emu = Emulator(port=0, crd_dir=str(ROOT / "crds")).start()
    proc = None
    try:
        rest = Rest(emu.api_client())
        kubeconfig = emu.write_kubeconfig(str(tmp_path / "kubeconfig"))
        rest.create("nodes", None, make_node("gpu-a", {"nvidia.com/gpu.present": "true"}))
        rest.create("launcherconfigs", "default", make_lc("vllm-launcher"))
        rest.create("launcherpopulationpolicies", "default", make_lpp(
            "one-launcher-per-gpu-node", {"vllm-launcher": 1}, {"nvidia.com/gpu.present": "true"},
            {"nvidia.com/gpu": {"min": "1"}}))
        port = free_port()
        events = tmp_path / "populator-events.log"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen([sys.executable, "-m", "fma", "populator", "--kubeconfig", kubeconfig,
                                 "--namespace", "default", "--metrics-port", str(port), "--event-log", str(events),
                                 "--leader-elect"],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 30
        pods: list = []
        while time.monotonic() < deadline and not pods:
            pods = rest.list("pods", "default", N.LABEL_LAUNCHER_CONFIG).get("items") or []
            time.sleep(0.1)
        assert len(pods) == 1 and pods[0]["spec"]["nodeName"] == "gpu-a"
        metrics = ""
        while time.monotonic() < deadline and 'fma_populator_desired_launchers{' not in metrics:
            metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
            time.sleep(0.1)
        assert 'fma_populator_desired_launchers{launcher_config="vllm-launcher",node="gpu-a"} 1.0' in metrics
        assert rest.get("leases", "default", "fma-launcher-populator")["spec"]["holderIdentity"]
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
        assert proc.returncode == 0, out
        recs = read_log_file(events)
        assert [r.event for r in recs][:1] == ["scale_up"]
        assert recs[0].actor == "launcher-pair/default/gpu-a/vllm-launcher"
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        emu.stop()
