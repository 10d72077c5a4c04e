"""`fma lifecycle list|show` and `fma debug replay` on a log written by the library."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from fma.cli import main
from fma.events import FileLog
from fma.statemachines import InstanceLifecycle, Lifecycle, ProviderLifecycle, load_all

LIFECYCLES = load_all()  # the same set in every xdist worker, whatever was imported first


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


# --- fma lifecycle ---------------------------------------------------------------------

def test_lifecycle_list_names_every_lifecycle_with_its_states(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run_cli(capsys, "lifecycle", "list")
    assert rc == 0
    lines = out.strip().splitlines()
    assert [ln.split()[0] for ln in lines] == sorted(LIFECYCLES)
    for name, cls in LIFECYCLES.items():
        line = next(ln for ln in lines if ln.split()[0] == name)
        assert line.split("states: ")[1] == ", ".join(s.value for s in cls.States)


def _edges(cls: type[Lifecycle]) -> set[tuple[str, str, str]]:
    return {(src.value, row.trigger, (row.dest or src).value) for row in cls.table for src in row.sources}


@pytest.mark.parametrize("name", sorted(LIFECYCLES))
def test_lifecycle_show_table_has_one_line_per_transition(capsys: pytest.CaptureFixture[str], name: str) -> None:
    cls = LIFECYCLES[name]
    rc, out, _ = run_cli(capsys, "lifecycle", "show", name)
    assert rc == 0
    lines = out.splitlines()
    assert lines[0].startswith(f"lifecycle {name}: initial {cls.initial.value}; final ")
    assert lines[1].split() == ["from", "trigger", "to", "kind", "effects", "guard"]
    assert set(lines[2].replace(" ", "")) == {"-"}
    rows = [ln.split() for ln in lines[3:]]
    assert {(r[0], r[1], r[2]) for r in rows} == _edges(cls)
    assert len(rows) == sum(len(r.sources) for r in cls.table)
    assert all(r[3] in ("command", "observation") for r in rows)


@pytest.mark.parametrize("name", sorted(LIFECYCLES))
def test_lifecycle_show_mermaid_is_a_state_diagram_of_the_table(capsys: pytest.CaptureFixture[str], name: str) -> None:
    cls = LIFECYCLES[name]
    rc, out, _ = run_cli(capsys, "lifecycle", "show", name, "--format", "mermaid")
    assert rc == 0
    lines = out.strip().splitlines()
    assert lines[0] == "stateDiagram-v2"
    assert lines[1].strip() == f"[*] --> {cls.initial.value}"
    edges = set()
    for ln in lines[2:]:
        m = re.fullmatch(r"\s*(\w+) --> (\w+): (\w+).*", ln)
        if m:
            edges.add((m[1], m[3], m[2]))
        else:
            assert re.fullmatch(r"\s*(\w+) --> \[\*\]", ln), ln
    assert edges == _edges(cls)
    finals = {re.match(r"\s*(\w+)", ln)[1] for ln in lines if ln.endswith("--> [*]")}
    assert finals == {s.value for s in cls.final}


@pytest.mark.parametrize("name", sorted(LIFECYCLES))
def test_lifecycle_show_dot_is_a_graph_of_the_table(capsys: pytest.CaptureFixture[str], name: str) -> None:
    cls = LIFECYCLES[name]
    rc, out, _ = run_cli(capsys, "lifecycle", "show", name, "--format", "dot")
    assert rc == 0
    assert out.startswith(f'digraph "{name}" {{') and out.strip().endswith("}")
    edges = {(m[1], m[3], m[2]) for m in re.finditer(r'"(\w+)" -> "(\w+)" \[label="(\w+)', out)}
    assert edges == _edges(cls)
    for s in cls.States:
        shape = "doublecircle" if s in cls.final else "circle"
        assert f'"{s.value}" [shape={shape}];' in out
    kinds = {t.kind for t in cls.table}
    assert ("style=solid" in out) == ("command" in kinds)
    assert ("style=dashed" in out) == ("observation" in kinds)


def test_lifecycle_show_unknown_machine_names_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run_cli(capsys, "lifecycle", "show", "toaster")
    assert rc == 2 and out == ""
    assert "unknown machine 'toaster'" in err and "instance" in err


def test_lifecycle_show_refuses_an_unknown_format(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["lifecycle", "show", "instance", "--format", "svg"])
    assert info.value.code == 2
    assert "invalid choice: 'svg'" in capsys.readouterr().err


# --- fma debug replay ------------------------------------------------------------------

@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    """A log written through the lifecycles and the FileLog, as an actor would."""
    path = tmp_path / "events.log"
    log = FileLog(path)
    a, b, p = InstanceLifecycle(), InstanceLifecycle(), ProviderLifecycle()

    def act(actor: str, lc: Lifecycle, trigger: str, **data: object) -> None:
        for ev in lc.handle(trigger, data).events:
            log.append(actor, lc.name, ev.name, ev.src, ev.dst, ev.data)

    act("instance/n1/a", a, "start", gpu="GPU-0")     # 1
    act("instance/n1/b", b, "start")                  # 2
    act("instance/n1/a", a, "ready")                  # 3
    act("provider/ns/p", p, "created")                # 4
    act("instance/n1/a", a, "sleep", level=1)         # 5
    act("instance/n1/a", a, "slept")                  # 6
    act("instance/n1/b", b, "crashed", exit_code=1)   # 7
    log.close()
    return path


def test_replay_json_prints_each_actor_state(capsys: pytest.CaptureFixture[str], log_file: Path) -> None:
    rc, out, _ = run_cli(capsys, "debug", "replay", str(log_file), "--json")
    assert rc == 0
    rows = [json.loads(ln) for ln in out.strip().splitlines()]
    assert rows == [
        {"actor": "instance/n1/a", "machine": "instance", "state": "sleeping", "seq": 6},
        {"actor": "instance/n1/b", "machine": "instance", "state": "failed", "seq": 7},
        {"actor": "provider/ns/p", "machine": "provider", "state": "starting", "seq": 4},
    ]


def test_replay_until_stops_at_that_seq(capsys: pytest.CaptureFixture[str], log_file: Path) -> None:
    rc, out, _ = run_cli(capsys, "debug", "replay", str(log_file), "--until", "3", "--json")
    assert rc == 0
    rows = {r["actor"]: (r["state"], r["seq"]) for r in map(json.loads, out.strip().splitlines())}
    assert rows == {"instance/n1/a": ("awake", 3), "instance/n1/b": ("loading", 2)}


def test_replay_until_zero_prints_no_actor(capsys: pytest.CaptureFixture[str], log_file: Path) -> None:
    rc, out, _ = run_cli(capsys, "debug", "replay", str(log_file), "--until", "0", "--json")
    assert (rc, out) == (0, "")


def test_replay_table_shows_the_actors_and_the_last_seq(capsys: pytest.CaptureFixture[str], log_file: Path) -> None:
    rc, out, _ = run_cli(capsys, "debug", "replay", str(log_file))
    assert rc == 0
    assert "at seq 7" in out
    for actor, state in (("instance/n1/a", "sleeping"), ("instance/n1/b", "failed"), ("provider/ns/p", "starting")):
        line = next(ln for ln in out.splitlines() if actor in ln)
        assert state in line


def test_replay_history_prints_one_actor_records(capsys: pytest.CaptureFixture[str], log_file: Path) -> None:
    rc, out, _ = run_cli(capsys, "debug", "replay", str(log_file), "--history", "instance/n1/a")
    assert rc == 0
    lines = out.strip().splitlines()
    assert [int(ln.split()[0]) for ln in lines] == [1, 3, 5, 6]
    assert "pending --start--> loading gpu=GPU-0" in lines[0]
    assert "awake --sleep--> swapping level=1" in lines[2]


def test_replay_history_json_gives_whole_records(capsys: pytest.CaptureFixture[str], log_file: Path) -> None:
    rc, out, _ = run_cli(capsys, "debug", "replay", str(log_file), "--history", "instance/n1/b", "--json", "--until", "5")
    assert rc == 0
    recs = [json.loads(ln) for ln in out.strip().splitlines()]
    assert [(r["seq"], r["event"], r["src"], r["dst"]) for r in recs] == [(2, "start", "pending", "loading")]
    assert set(recs[0]) == {"v", "seq", "ts", "actor", "machine", "event", "src", "dst", "data"}


def test_replay_of_a_missing_file_says_so(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rc, out, err = run_cli(capsys, "debug", "replay", str(tmp_path / "nope.log"))
    assert rc == 2 and "no such file" in err and "nope.log" in err


def test_replay_of_a_corrupt_file_names_the_offset(capsys: pytest.CaptureFixture[str], log_file: Path) -> None:
    size = log_file.stat().st_size
    with log_file.open("ab") as fh:
        fh.write(b"\x00\x00\x00\x02\xc1\xc1")
    rc, out, err = run_cli(capsys, "debug", "replay", str(log_file), "--json")
    assert rc == 1 and out == ""
    assert f"corrupt frame at byte offset {size}" in err


def test_replay_of_a_torn_file_prints_the_complete_records(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, log_file: Path
) -> None:
    with log_file.open("ab") as fh:
        fh.write(b"\x00\x00\x01")
    with caplog.at_level(logging.WARNING):
        rc, out, _ = run_cli(capsys, "debug", "replay", str(log_file), "--json")
    assert rc == 0 and len(out.strip().splitlines()) == 3
    assert "torn last frame" in caplog.text


def test_replay_of_an_impossible_sequence_is_a_fold_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "bad.log"
    log = FileLog(path)
    log.append("instance/n/x", "instance", "start", "pending", "loading")
    log.append("instance/n/x", "instance", "woke", "loading", "awake")
    log.close()
    rc, out, err = run_cli(capsys, "debug", "replay", str(path))
    assert rc == 1 and "instance/n/x seq 2" in err
