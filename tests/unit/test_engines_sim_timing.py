"""The simulator's start, sleep and wake take the modelled time (within 10 %) at time-scale 1 and 1000."""

from __future__ import annotations

import time

import pytest

from fma.engines import ServerClient, free_port
from fma.engines.sim.inprocess import InProcessSim
from fma.engines.sim.model import SimParams
from fma.engines.sim.server import SimConfig

GB = 10**9


def params(scale: float) -> SimParams:
    # Modelled: start 0.4 s + 1 GB / 5 GB/s = 0.6 s; sleep 1 GB / 2.5 GB/s = 0.4 s;
    # wake 1 GB / 2 GB/s = 0.5 s. Multiplied by `scale` so the wall time is the same.
    return SimParams(weight_bytes=GB, init_s=0.4 * scale, enforce_eager=True, disk_bw=5 * GB / scale,
                     d2h_bw=2.5 * GB / scale, h2d_bw=2 * GB / scale, release_s=0.0, time_scale=scale,
                     gpu_memory_bytes=80 * GB)


def test_model_arithmetic() -> None:
    p = SimParams(weight_bytes=16 * GB, init_s=20, graph_capture_s=10, disk_bw=2 * GB, d2h_bw=50 * GB,
                  h2d_bw=25 * GB, tensor_parallel_size=2, time_scale=10)
    assert p.start_s() == 20 + 10 + 4
    assert (p.sleep_s(1), p.wake_s(1), p.wake_s(2)) == (8 / 50, 8 / 25, 4)
    assert p.wall(p.start_s()) == pytest.approx(3.4)
    assert p.gpu_claim_bytes == 72 * GB and p.kv_cache_bytes > 0 and p.host_bytes_level1 == 16 * GB


@pytest.mark.parametrize("scale", [1.0, 1000.0])
def test_start_sleep_and_wake_take_the_modelled_time(scale: float) -> None:
    p = params(scale)
    cfg = SimConfig(params=p, model="m", served_names=("m",), port=free_port())
    with InProcessSim(cfg) as sim, ServerClient(sim.url) as client:
        want_start, want_sleep, want_wake = (p.wall(p.start_s()), p.wall(p.sleep_s(1)), p.wall(p.wake_s(1)))
        assert (want_start, want_sleep, want_wake) == pytest.approx((0.6, 0.4, 0.5))
        assert sim.ready_after == pytest.approx(want_start, rel=0.10)
        t = time.monotonic()
        assert client.sleep(1) is True
        assert time.monotonic() - t == pytest.approx(want_sleep, rel=0.10)
        t = time.monotonic()
        assert client.wake() is True
        assert time.monotonic() - t == pytest.approx(want_wake, rel=0.10)


def test_level_two_wake_reloads_from_disk() -> None:
    p = params(1.0)
    cfg = SimConfig(params=p, model="m", served_names=("m",), port=free_port())
    with InProcessSim(cfg) as sim, ServerClient(sim.url) as client:
        t = time.monotonic()
        client.sleep(2)
        assert time.monotonic() - t < 0.1  # nothing copied
        t = time.monotonic()
        client.wake()
        assert time.monotonic() - t == pytest.approx(p.wall(p.wake_s(2)), rel=0.10)  # 1 GB / 5 GB/s
