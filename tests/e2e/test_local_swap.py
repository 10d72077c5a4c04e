"""`fma local --scenario swap` and `swap-direct`: more models than GPUs on one GPU —
sleepers are woken when their model returns and the least recently used one is stopped
past the sleeper limit; through one launcher (instances start warm) or with provider pods
(cold). The JSON summary and the timeline picture come out of the same run."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("fma-local"),
    pytest.mark.skipif(importlib.util.find_spec("fma.cli.controller") is None, reason="no dual-pods controller"),
]


def run_swap(tmp_path: Path, scenario: str) -> tuple[dict, Path]:
    picture = tmp_path / f"{scenario}.png"
    out = subprocess.run([sys.executable, "-m", "fma", "local", "--scenario", scenario, "--json", "--timeline",
                          str(picture), "--state-dir", str(tmp_path / "state")],
                         capture_output=True, text=True, timeout=170)
    assert out.returncode == 0, out.stderr[-4000:]
    return json.loads(out.stdout.strip().splitlines()[-1]), picture


@pytest.mark.timeout(180)
def test_model_swapping_through_one_launcher_wakes_returning_models_and_restarts_evicted_ones_warm(
        tmp_path: Path) -> None:
    s, picture = run_swap(tmp_path, "swap")
    kinds = {r["name"]: r["start"] for r in s["requesters"]}
    assert kinds == {"s-llama": "warm", "s-qwen": "warm", "s-qwen-again": "hot", "s-opt": "warm",
                     "s-opt-again": "hot", "s-llama-again": "warm"}, s["expectation_mismatches"]
    by = {r["name"]: r for r in s["requesters"]}
    # one launcher pod served every model; the returning models woke their own instance
    assert len({r["provider"] for r in s["requesters"]}) == 1
    assert by["s-qwen-again"]["instance"] == by["s-qwen"]["instance"]
    assert by["s-opt-again"]["instance"] == by["s-opt"]["instance"]
    assert s["wakes"] == 2 and s["sleeps"] >= 5
    assert s["mean_ready_seconds"]["hot"] < s["mean_ready_seconds"]["warm"]
    assert s["timeline"] == str(picture) and picture.read_bytes().startswith(b"\x89PNG")


@pytest.mark.timeout(180)
def test_swap_wakes_returning_models_restarts_evicted_ones_and_draws_the_timeline(tmp_path: Path) -> None:
    s, picture = run_swap(tmp_path, "swap-direct")
    kinds = {r["name"]: r["start"] for r in s["requesters"]}
    assert kinds == {"s-llama": "cold", "s-qwen": "cold", "s-qwen-again": "hot", "s-opt": "cold",
                     "s-opt-again": "hot", "s-llama-again": "cold"}, s["expectation_mismatches"]
    # the returning models found their providers asleep; llama's had been deleted to make room
    by = {r["name"]: r for r in s["requesters"]}
    assert by["s-qwen-again"]["provider"] == by["s-qwen"]["provider"]
    assert by["s-llama-again"]["provider"] != by["s-llama"]["provider"]
    assert s["wakes"] == 2 and s["sleeps"] >= 4
    assert s["mean_ready_seconds"]["hot"] < s["mean_ready_seconds"]["cold"]
    for r in s["requesters"]:
        assert {"name", "mode", "start", "ready_seconds", "gpu_seconds"} <= set(r) and r["gpu_seconds"] > 0
    assert set(s["gpu_seconds"]) >= {"requested", "always_on"}
    assert s["timeline"] == str(picture) and picture.read_bytes().startswith(b"\x89PNG")
