"""Random create/sleep/wake/delete/crash sequences against the launcher's node actor on
the sim engine: GPU bytes are never over-committed, every instance is in exactly one
state, and folding the log gives the live state."""

from __future__ import annotations

import os
import signal
import tempfile
import time
from typing import Any, Iterator

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from fma.engines import SimEngine, free_port
from fma.events.fold import fold_log
from fma.statemachines import InstanceState
from launcher.budget import Budget, mock_gpus
from launcher.ids import BadRequest, CreateRequest
from launcher.node import Node
from launcher.spawner import ZygoteSpawner
from tests.support import examples

GPU = 80 * 10**9
IDS = ["i0", "i1", "i2", "i3"]


@pytest.fixture(scope="module")
def spawner() -> Iterator[ZygoteSpawner]:
    sp = ZygoteSpawner("sim")
    yield sp
    sp.close()


ops = st.lists(st.one_of(
    st.tuples(st.just("create"), st.sampled_from(IDS), st.sampled_from([0.2, 0.4, 0.7]), st.integers(0, 1)),
    st.tuples(st.just("sleep"), st.sampled_from(IDS)),
    st.tuples(st.just("wake"), st.sampled_from(IDS)),
    st.tuples(st.just("delete"), st.sampled_from(IDS)),
    st.tuples(st.just("crash"), st.sampled_from(IDS)),
), min_size=1, max_size=8)


def settle(node: Node) -> None:
    """Wait until no instance is loading or swapping and every crash has been seen."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with node.lock:
            busy = [i for i in node.instances.values()
                    if i.state in (InstanceState.LOADING, InstanceState.SWAPPING, InstanceState.STOPPING)
                    or (not i.lc.is_final and i.pid and not os.path.exists(f"/proc/{i.pid}"))]
        if not busy:
            return
        time.sleep(0.02)


def check(node: Node) -> None:
    with node.lock:
        assert not node.budget.overcommitted(node.holdings())
        live = {i.actor: i for i in node.instances.values()}
        folded = fold_log(node.log.read())
    for actor, inst in live.items():
        assert inst.state in InstanceState  # exactly one state: the lifecycle's
        assert folded[actor].state == inst.state.value
        assert folded[actor].ctx == inst.lc.ctx
    ids = [i.instance_id for i in live.values()]
    assert len(ids) == len(set(ids))


@settings(max_examples=examples(15), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seq=ops)
def test_random_sequences_never_overcommit_and_fold_to_live_state(spawner: ZygoteSpawner, seq: list[Any]) -> None:
    with tempfile.TemporaryDirectory() as d:
        gpus = mock_gpus(2, GPU, "p")
        node = Node("p", d, spawner, Budget(gpus), SimEngine(time_scale=1000, gpu_memory_bytes=GPU), stop_grace=3)
        try:
            for op in seq:
                kind, iid = op[0], op[1]
                try:
                    if kind == "create":
                        req = CreateRequest(options=f"--model m --port {free_port()} --gpu-memory-utilization {op[2]}",
                                            gpu_uuids=(gpus[op[3]].uuid,))
                        node.create(req, iid)
                        event("created")
                    elif kind == "sleep":
                        node.sleep(iid)
                    elif kind == "wake":
                        node.wake(iid)
                    elif kind == "delete":
                        node.delete(iid)
                    elif kind == "crash":
                        inst = node.get(iid)
                        if inst.pid and not inst.lc.is_final:
                            os.killpg(inst.pid, signal.SIGKILL)
                except BadRequest:
                    pass  # refused (404, 409, 422): must have changed nothing
                except ProcessLookupError:
                    pass
                check(node)
                settle(node)
                check(node)
        finally:
            node.close(stop_instances=True)
        restarted = Node("p", d, spawner, Budget(gpus), SimEngine(time_scale=1000, gpu_memory_bytes=GPU))
        try:
            assert restarted.instances == {}
            assert restarted.revision >= node.revision
        finally:
            restarted.close()
