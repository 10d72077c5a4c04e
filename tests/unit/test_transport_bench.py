"""``fma bench transport`` runs end to end and prints every figure (tiny counts: a smoke test)."""

from __future__ import annotations

import json

import pytest

from fma.cli import main


def test_transport_benchmark_prints_every_figure(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["--log-level", "WARNING", "bench", "transport", "--asks", "50", "--tells", "500",
               "--transitions", "20", "--json"])
    assert rc == 0
    fig = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("ask_ipc_p50_us", "ask_tcp_p99_us", "raw_ipc_p50_us", "tells_ipc_per_s", "tells_tcp_per_s",
                "tail_p99_ms", "stream_p99_ms"):
        assert fig[key] > 0, key
