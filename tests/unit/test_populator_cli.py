"""`fma populator` options: the chart's argv parses, help explains, bad durations are refused."""

from __future__ import annotations

import pytest

from fma.cli import build_parser, main


def test_populator_accepts_the_chart_flags() -> None:
    args = build_parser().parse_args([
        "--log-level=INFO", "populator", "--namespace=fma", "--metrics-port=8002",
        "--debug-socket=ipc:///tmp/x.sock", "--leader-elect", "--stuck-scheduling-threshold=2m",
        "--stuck-starting-threshold=7m30s"])
    assert (args.command, args.namespace, args.leader_elect) == ("populator", "fma", True)
    assert (args.stuck_scheduling_threshold, args.stuck_starting_threshold) == ("2m", "7m30s")


def test_populator_help_says_what_it_does(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["populator", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "LauncherPopulationPolicies" in out and "launcher-stuck" in out and "--stuck-starting-threshold" in out


def test_populator_refuses_a_bad_threshold(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["populator", "--stuck-scheduling-threshold", "soon"]) == 2
    assert "not a duration: 'soon'" in capsys.readouterr().err
