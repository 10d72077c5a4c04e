"""Simulator fault knobs and memory contention behave the way vLLM fails."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from fma.cli import build_parser
from fma.cli.sim_vllm import build_config
from fma.engines import EngineError, EngineSpec, ServerClient, SimEngine, free_port
from fma.engines.sim.inprocess import InProcessSim
from fma.engines.sim.ledger import LocalLedger
from fma.engines.sim.model import SimParams
from fma.engines.sim.server import Faults, SimConfig

GB = 10**9


def cfg(**kw) -> SimConfig:
    p = SimParams(weight_bytes=GB, init_s=0, enforce_eager=True, time_scale=1000.0,
                  gpu_memory_bytes=kw.pop("gpu_bytes", 80 * GB), gpu_memory_utilization=kw.pop("util", 0.9))
    return SimConfig(params=p, model="m", served_names=("m",), port=free_port(), **kw)


def test_oom_knob_fails_the_wake_with_vllms_error_shape_and_stays_asleep() -> None:
    with InProcessSim(cfg(faults=Faults(fail_wake_oom=1))) as sim, ServerClient(sim.url) as c:
        c.sleep(1)
        with pytest.raises(EngineError) as err:
            c.wake()
        e = err.value
        assert e.status == 500 and e.is_oom and e.error_type == "InternalServerError"
        assert set(e.body["error"]) == {"message", "type", "param", "code"} and e.body["error"]["code"] == 500
        assert e.body["error"]["message"].startswith("Call to wake_up method failed: CUDA out of memory.")
        assert c.is_sleeping() is True
        assert c.wake() is True  # the knob counts down


def test_a_sleeper_cannot_wake_when_another_server_took_its_gpu() -> None:
    ledger = LocalLedger(80 * GB)
    with InProcessSim(cfg(ledger=ledger, util=0.6)) as a, ServerClient(a.url) as ca:
        with pytest.raises(RuntimeError, match="failed to start"):
            InProcessSim(cfg(ledger=ledger, util=0.6)).start()
        ca.sleep(1)
        with InProcessSim(cfg(ledger=ledger, util=0.6)):
            with pytest.raises(EngineError) as err:
                ca.wake()
            assert err.value.is_oom and ca.is_sleeping()
        assert ca.wake() is True
    assert all(ledger.mem.used(g) == 0 for g in ledger.mem.capacity)


def test_slow_health_knob_delays_health() -> None:
    with InProcessSim(cfg(faults=Faults(health_delay_s=300.0))) as sim, ServerClient(sim.url) as c:
        t = time.monotonic()
        assert c.health()
        assert time.monotonic() - t >= 0.3


def test_crash_knob_ends_the_process_with_code_1(tmp_path: Path) -> None:
    engine = SimEngine(time_scale=1000.0, sim_args=["--crash-after", "1000", "--init-seconds", "0"])
    proc = engine.start(EngineSpec(f"--model m --port {free_port()}", log_path=tmp_path / "sim.log"))
    try:
        assert proc.wait(20) == 1
        assert "simulated crash" in (tmp_path / "sim.log").read_text()
    finally:
        proc.stop(1)


def test_second_process_on_a_full_gpu_refuses_to_start_like_vllm(tmp_path: Path) -> None:
    engine = SimEngine(time_scale=1000.0, ledger_dir=tmp_path / "ledger", sim_args=["--init-seconds", "0"])
    first = engine.start(EngineSpec(f"--model m --port {free_port()} --gpu-memory-utilization 0.6",
                                    gpu_indices=(0,), log_path=tmp_path / "a.log"))
    try:
        with ServerClient(first.url) as c:
            c.wait_ready(20, alive=lambda: first.poll() is None)
        second = engine.start(EngineSpec(f"--model m --port {free_port()} --gpu-memory-utilization 0.6",
                                         gpu_indices=(0,), log_path=tmp_path / "b.log"))
        assert second.wait(20) == 1
        assert "less than desired GPU memory utilization" in (tmp_path / "b.log").read_text()
    finally:
        first.stop(5)


def test_cli_takes_vllm_options_it_does_not_model_and_sizes_unknown_models_from_a_flag() -> None:
    args = build_parser().parse_args(["sim-vllm", "--model", "acme/unknown", "--block-size", "16", "--port", "9",
                                      "--weight-bytes", "2GB", "--time-scale", "50", "--served-model-name", "x"])
    c = build_config(args)
    assert (c.port, c.served_names, c.params.weight_bytes, c.params.time_scale) == (9, ("x",), 2 * GB, 50.0)
    known = build_config(build_parser().parse_args(["sim-vllm", "--model", "Qwen/Qwen3-32B"]))
    assert known.params.weight_bytes == 65524246528
