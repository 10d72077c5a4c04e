"""A launcher on the sim engine, served over HTTP on an ephemeral port."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Iterator

import httpx
import pytest

GPU_BYTES = 80 * 10**9


@pytest.fixture(scope="module")
def sim_spawner() -> Iterator[object]:
    from launcher.spawner import ZygoteSpawner

    sp = ZygoteSpawner("sim")
    yield sp
    sp.close()


def launcher_args(state_dir: Path, **kw: object) -> argparse.Namespace:
    base = dict(node="n1", host="127.0.0.1", port=0, zmq=None, debug_socket="none", state_dir=str(state_dir),
                log_dir=None, engine="sim", mock_gpus=2, mock_gpu_memory=GPU_BYTES, host_memory=None,
                sim_time_scale=1000.0, stop_grace=5.0, no_preload=False, no_validate=False,
                stop_instances_on_exit=True)
    base.update(kw)
    return argparse.Namespace(**base)


@pytest.fixture
def launcher(tmp_path: Path, sim_spawner: object, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    from launcher import main

    monkeypatch.setattr("launcher.spawner.ZygoteSpawner", lambda engine: sim_spawner)
    lz = main.build(launcher_args(tmp_path / "state"))
    lz.spawner = _NoClose(sim_spawner)
    main.start_http(lz, "127.0.0.1", 0)
    yield lz
    lz.close(stop_instances=True)


class _NoClose:
    def __init__(self, inner: object) -> None:
        self.inner = inner

    def close(self) -> None:
        pass


@pytest.fixture
def api(launcher: object) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"http://127.0.0.1:{launcher.port}", timeout=30) as c:  # type: ignore[attr-defined]
        yield c


@pytest.fixture
def gpus(launcher: object) -> list[str]:
    return sorted(launcher.node.budget.gpus, key=lambda u: launcher.node.budget.gpus[u].index)  # type: ignore[attr-defined]
