"""kill -9 of the launcher loses nothing: a restart re-adopts live instances, marks the
dead ones failed, and the watch revisions continue."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from fma.engines import free_port
from launcher.procs import start_ticks


def start_launcher(state: Path, port: int, out: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "fma", "launcher", "--engine", "sim", "--mock-gpus", "2", "--node", "n1",
           "--state-dir", str(state), "--host", "127.0.0.1", "--port", str(port), "--sim-time-scale", "1000",
           "--debug-socket", "none", "--stop-grace", "5"]
    proc = subprocess.Popen(cmd, stdout=out.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise AssertionError(f"launcher exited {proc.returncode}: {out.read_text()[-3000:]}")
        time.sleep(0.1)
    raise AssertionError("launcher did not answer /health")


def wait_phase(c: httpx.Client, iid: str, phase: str) -> dict[str, Any]:
    for _ in range(200):
        st = c.get(f"/v2/vllm/instances/{iid}").json()
        if st.get("phase") == phase:
            return st
        time.sleep(0.05)
    raise AssertionError(f"{iid} never reached {phase}: {st}")


@pytest.fixture
def pids() -> Iterator[list[int]]:
    seen: list[int] = []
    yield seen
    for pid in seen:  # whatever the test left behind
        for sig in (signal.SIGKILL,):
            try:
                os.killpg(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass


def test_kill_9_then_restart_readopts_live_instances_and_fails_dead_ones(tmp_path: Path, pids: list[int]) -> None:
    state, out, port = tmp_path / "state", tmp_path / "launcher.out", free_port()
    first = start_launcher(state, port, out)
    pids.append(first.pid)
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base, timeout=30) as c:
        for iid in ("keep", "asleep", "dies"):
            assert c.put(f"/v2/vllm/instances/{iid}",
                         json={"options": f"--model m --port {free_port()} --gpu-memory-utilization 0.2"}).status_code == 201
        for iid in ("keep", "asleep", "dies"):
            wait_phase(c, iid, "awake")
        assert c.post("/v2/vllm/instances/asleep/sleep").json()["phase"] == "sleeping"
        before = c.get("/v2/vllm/instances").json()
        by_id = {s["instance_id"]: s for s in before["instances"]}
        pids.extend(s["pid"] for s in before["instances"])

    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    os.killpg(by_id["dies"]["pid"], signal.SIGKILL)
    for _ in range(100):
        if start_ticks(by_id["dies"]["pid"]) is None:
            break
        time.sleep(0.05)
    assert start_ticks(by_id["keep"]["pid"]) is not None  # instances outlive the launcher

    second = start_launcher(state, port, out)
    pids.append(second.pid)
    with httpx.Client(base_url=base, timeout=30) as c:
        after = c.get("/v2/vllm/instances").json()
        now = {s["instance_id"]: s for s in after["instances"]}
        assert sorted(now) == ["asleep", "dies", "keep"]
        assert now["keep"]["phase"] == "awake" and now["keep"]["pid"] == by_id["keep"]["pid"]
        assert now["asleep"]["phase"] == "sleeping" and now["asleep"]["status"] == "running"
        assert now["dies"]["status"] == "stopped" and now["dies"]["phase"] == "failed"
        assert after["revision"] == before["revision"] + 1  # the STOPPED of "dies"
        with c.stream("GET", "/v2/vllm/watch", params={"since": before["revision"] - 3}) as r:
            lines = []
            for line in r.iter_lines():
                if line:
                    lines.append(json.loads(line))
                if len(lines) == 4:
                    break
        assert [e["type"] for e in lines] == ["CREATED", "CREATED", "CREATED", "STOPPED"]
        assert lines[-1]["object"]["instance_id"] == "dies"
        # a re-adopted instance still wakes, and stops on delete
        assert c.post("/v2/vllm/instances/asleep/wake_up").json()["phase"] == "awake"
        assert c.delete("/v2/vllm/instances").json()["total_stopped"] == 3
        assert c.get("/v2/vllm/instances").json()["revision"] == after["revision"] + 3
    for s in before["instances"]:
        assert start_ticks(s["pid"]) is None, f"instance {s['instance_id']} left running"
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=30) == 0
