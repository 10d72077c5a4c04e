"""`fma bench eventlog` runs end to end on a tiny workload and prints its figures."""

from __future__ import annotations

import pytest

from fma.bench.eventlog import workload
from fma.cli import main
from fma.events.fold import fold_log
from fma.events import MemoryLog


def test_bench_workload_is_a_legal_instance_history() -> None:
    log = MemoryLog()
    log.append_many(list(workload(700, 7)))
    states = fold_log(log.read())  # strict: raises if the workload were impossible
    assert len(states) == 7 and {s.machine for s in states.values()} == {"instance"}


def test_bench_eventlog_prints_append_and_fold_figures(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    rc = main(["bench", "eventlog", "--appends", "300", "--fold", "600", "--actors", "6",
               "--fsync", "5", "--repeat", "1", "--dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0
    for label in ("sync=none, one by one", "sync=flush, one by one", "append_many(256)", "sync=fsync",
                  "read + decode", "fold (fold_log, in memory)", "target >= 200,000 appends/s"):
        assert label in out
    assert "records/s" in out and "failed" not in out
