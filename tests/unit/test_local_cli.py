"""`fma local` CLI: help, bad scenarios, and failures that leave nothing running."""

from __future__ import annotations

import sys

import pytest

from fma.cli import main
from fma.local import cluster as cluster_mod
from fma.local.cluster import ClusterOptions, LocalCluster


def test_help_names_engines_scenarios_and_flags(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["local", "--help"])
    out = capsys.readouterr().out
    for word in ("--engine", "--serve", "--kubeconfig-out", "--json", "--time-scale", "demo", "churn", "swap"):
        assert word in out


def test_unknown_scenario_exits_2_naming_the_builtins(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["local", "--scenario", "nope", "--json"]) == 2
    assert "built-ins are" in capsys.readouterr().err


def test_a_failure_while_starting_stops_what_was_started(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    started = {}

    def broken_emulator(crd_dir: str):
        proc = started["cluster"].sup.start("early", [sys.executable, "-c", "import time; time.sleep(60)"])
        started["proc"] = proc
        raise RuntimeError("emulator exploded")

    monkeypatch.setattr(cluster_mod, "start_emulator", broken_emulator)
    lc = LocalCluster(ClusterOptions(state_dir=str(tmp_path)))
    started["cluster"] = lc
    with pytest.raises(RuntimeError, match="exploded"):
        with lc:
            pass
    assert started["proc"].popen.poll() is not None
    assert lc.sup.live() == []


def test_fma_local_reports_a_start_failure_in_one_line_and_exits_1(monkeypatch: pytest.MonkeyPatch, tmp_path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    def broken(crd_dir: str):
        raise RuntimeError("no API server emulator")

    monkeypatch.setattr(cluster_mod, "start_emulator", broken)
    assert main(["local", "--json", "--state-dir", str(tmp_path)]) == 1
    assert "no API server emulator" in capsys.readouterr().err
