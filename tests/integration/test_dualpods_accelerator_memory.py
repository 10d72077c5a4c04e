"""`fma controller --debug-accelerator-memory` (FMA's flag of the same name): before waking
a sleeping provider, the requester stub is asked how much memory its GPUs hold, and the
wake waits while any GPU holds more than the sleepers' share (sleeper limit x 4096 MiB)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from fma.cli import build_parser
from fma.cli.controller import config_from_args
from fma.controllers.dualpods import effects as E
from fma.controllers.dualpods import pods as P
from fma.controllers.dualpods.executor import EffectFailed, Executor
from fma.controllers.dualpods.memkube import MemoryKube
from fma.controllers.dualpods.sim import SimCluster
from fma.controllers.dualpods.world import Config
from fma.requester.server import RequesterServer, RequesterState

PATCH = "spec:\n  containers:\n  - name: inference-server\n    args: [--model, m1]\n"


def test_the_flag_sets_the_limit_to_4096_mib_per_allowed_sleeper() -> None:
    on = build_parser().parse_args(["controller", "--debug-accelerator-memory", "--sleeper-limit", "2"])
    off = build_parser().parse_args(["controller", "--sleeper-limit", "2"])
    assert config_from_args(on).accelerator_memory_limit_mib == 8192
    assert config_from_args(off).accelerator_memory_limit_mib is None


def _hot_start(limit: int | None, used: dict[str, int]) -> SimCluster:
    c = SimCluster(config=Config(accelerator_memory_limit_mib=limit))
    c.add_node("n1", ["G0"])
    c.add_requester("r1", "n1", ["G0"], patch=PATCH)
    c.settle()
    c.delete("r1")
    c.settle()
    c.gpu_used_mib.update(used)
    c.add_requester("r2", "n1", ["G0"], patch=PATCH)
    return c


def test_a_wake_is_checked_first_and_waits_while_the_gpu_holds_too_much() -> None:
    c = _hot_start(4096, {"G0": 20000})
    for _ in range(6):
        c.step()
    wakes = [d for d in c.log if d.subject == "r2" and d.kind == "wake"]
    assert wakes and all(isinstance(d.effects[-2], E.CheckAcceleratorMemory) for d in wakes)
    assert wakes[-1].effects[-2] == E.CheckAcceleratorMemory("r2", wakes[-1].effects[-2].url, ("G0",), 4096)
    prov = P.name(c.world.bound_to(c.world.pods["r2"]))
    assert c.servers[prov] is True  # still asleep: the check failed, the wake was not done
    c.gpu_used_mib["G0"] = 1500  # the sleeper's memory is what is left: within the share
    c.settle()
    assert c.servers[prov] is False


def test_without_the_flag_there_is_no_check() -> None:
    c = _hot_start(None, {"G0": 20000})
    c.settle()
    assert not any(isinstance(e, E.CheckAcceleratorMemory) for d in c.log for e in d.effects)


class _BusyStub(BaseHTTPRequestHandler):
    usage: dict[str, int] = {}

    def do_GET(self) -> None:  # noqa: N802
        body = json.dumps(self.usage).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def executor():
    ex = Executor(MemoryKube("ns"), lambda name: None, lambda obj, name: None, set())
    yield ex
    ex.close()


def test_the_executor_asks_the_real_stub_and_passes_when_the_gpus_are_idle(executor: Executor) -> None:
    srv = RequesterServer(RequesterState(gpus=("GPU-a",), name="r"), "127.0.0.1", 0, 0, None).start()
    try:
        executor.run(E.CheckAcceleratorMemory("r", srv.url("admin"), ("GPU-a",), 4096))  # mock GPUs: 0 MiB
        with pytest.raises(EffectFailed, match="no memory usage reported for GPU GPU-b"):
            executor.run(E.CheckAcceleratorMemory("r", srv.url("admin"), ("GPU-b",), 4096))
    finally:
        srv.stop()


def test_the_executor_refuses_while_a_gpu_holds_more_than_the_limit(executor: Executor) -> None:
    handler = type("H", (_BusyStub,), {"usage": {"GPU-a": 100, "GPU-b": 9000}})
    http = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{http.server_address[1]}"
    try:
        executor.run(E.CheckAcceleratorMemory("r", url, ("GPU-a",), 4096))
        with pytest.raises(EffectFailed, match="GPU GPU-b uses 9000 MiB, more than the 4096 MiB"):
            executor.run(E.CheckAcceleratorMemory("r", url, ("GPU-a", "GPU-b"), 4096))
    finally:
        http.shutdown()
        http.server_close()
