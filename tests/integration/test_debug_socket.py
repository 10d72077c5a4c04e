"""Debug socket (CONTRACTS.md B3): tail sees every transition in order with no gaps; state is the fold."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Iterator

import pytest

from fma.actors import LifecycleActor
from fma.cli import main
from fma.events import FileLog, Record
from fma.events.fold import fold_log
from fma.statemachines import InstanceLifecycle
from fma.transport import DebugClient, DebugError, Host

CYCLE = ["start", "ready"] + ["sleep", "slept", "wake", "woke"] * 5 + ["stop", "exited"]
ACTORS = [f"instance/node-{n}/i{i}" for n in "ab" for i in range(3)]


class Inst(LifecycleActor):
    lifecycle = InstanceLifecycle


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    h = Host(FileLog(tmp_path / "events.log"), None, debug_socket=f"ipc://{tmp_path}/debug.sock", name="dbg")
    for path in ACTORS:
        h.spawn(Inst, path)
    h.serve()
    yield h
    h.stop()
    h.log.close()


def _scripted_run(host: Host) -> None:
    """Drive every actor through its cycle, one thread per actor, so appends interleave."""
    def drive(path: str) -> None:
        ref = host.get(path)
        for trigger in CYCLE:
            ref.ask(trigger)

    threads = [threading.Thread(target=drive, args=(p,)) for p in ACTORS]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _collect(addr: str, n: int, out: list[Record], started: threading.Event, **kw: object) -> None:
    with DebugClient(addr) as client:
        it = client.tail(idle_timeout=5.0, **kw)  # type: ignore[arg-type]
        started.set()  # tail() returns once the server has registered the tail
        for rec in it:
            out.append(rec)
            if len(out) >= n:
                break


def _start_tail(addr: str, n: int, **kw: object) -> tuple[threading.Thread, list[Record]]:
    out: list[Record] = []
    started = threading.Event()
    t = threading.Thread(target=_collect, args=(addr, n, out, started), kwargs=kw)
    t.start()
    assert started.wait(5)
    return t, out


def test_tail_sees_every_transition_of_a_scripted_run_in_order_without_gaps(host: Host) -> None:
    total = len(ACTORS) * len(CYCLE)
    t, got = _start_tail(host.debug_address, total, since=0)
    _scripted_run(host)
    t.join(20)
    assert [r.seq for r in got] == list(range(1, total + 1))
    assert got == list(host.log.read())
    for path in ACTORS:  # and each actor's own transitions in its script's order
        assert [r.event for r in got if r.actor == path] == CYCLE


def test_tail_from_now_sees_only_new_records(host: Host) -> None:
    host.get(ACTORS[0]).ask("start")
    t, got = _start_tail(host.debug_address, 1)
    host.get(ACTORS[1]).ask("start")
    t.join(10)
    assert [(r.seq, r.actor) for r in got] == [(2, ACTORS[1])]


def test_tail_with_filters_sees_only_matching_records(host: Host) -> None:
    _scripted_run(host)
    t, got = _start_tail(host.debug_address, 5, since=0, prefix="instance/node-b/", state="sleeping")
    t.join(10)
    assert len(got) == 5 and all(r.actor.startswith("instance/node-b/") and r.dst == "sleeping" for r in got)
    assert [r.seq for r in got] == sorted(r.seq for r in got)


def test_tail_re_reads_records_the_server_dropped(host: Host) -> None:
    server = host._debug
    real = server._send
    dropped = []

    def lossy(ident: bytes, msg: dict) -> None:
        if msg.get("op") == "record" and msg["record"]["seq"] in (3, 4, 10) and msg["record"]["seq"] not in dropped:
            dropped.append(msg["record"]["seq"])
            return
        real(ident, msg)

    server._send = lossy
    total = len(ACTORS) * len(CYCLE)
    t, got = _start_tail(host.debug_address, total, since=0)
    _scripted_run(host)
    t.join(20)
    assert sorted(dropped) == [3, 4, 10]
    assert [r.seq for r in got] == list(range(1, total + 1))


def test_state_equals_the_fold_of_the_log(host: Host) -> None:
    host.get(ACTORS[0]).ask("start")
    host.get(ACTORS[1]).ask("start")
    host.get(ACTORS[1]).ask("ready")
    host.log.append("launcher/node-a", "launcher", "scheduled", "creating", "starting")  # not an actor here
    with DebugClient(host.debug_address) as client:
        seq, rows = client.state()
        assert seq == host.log.last_seq == 4
        assert [r.row() for r in rows] == [s.row() for s in sorted(fold_log(host.log.read()).values(), key=lambda s: s.actor)]
        _, awake = client.state(state="awake")
        assert [r.actor for r in awake] == [ACTORS[1]]
        _, launchers = client.state(machine="launcher")
        assert [r.actor for r in launchers] == ["launcher/node-a"]
        assert [r.event for r in client.history(ACTORS[1])] == ["start", "ready"]


@pytest.mark.parametrize("request_", [
    {"op": "nope"}, {}, {"op": "history"}, {"op": "history", "actor": 5},
    {"op": "tail", "since": -1}, {"op": "tail", "since": "x"}, {"op": "state", "prefix": 3},
])
def test_bad_requests_get_ok_false_with_an_error(host: Host, request_: dict) -> None:
    with DebugClient(host.debug_address) as client:
        with pytest.raises(DebugError):
            client.request(request_)
        client.send_raw(b"\xc1garbage")
        msg = client.recv()
        assert msg is not None and msg["ok"] is False and msg["error"]
        assert client.request({"op": "state"})["ok"] is True


def test_cli_state_history_and_tail_read_a_live_process(host: Host, capsys: pytest.CaptureFixture[str]) -> None:
    for trigger in ("start", "ready", "sleep"):
        host.get(ACTORS[0]).ask(trigger)
    addr = host.debug_address
    assert main(["debug", "state", "--connect", addr, "--json", "--prefix", "instance/node-a/i0"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows == [{"actor": ACTORS[0], "machine": "instance", "state": "swapping", "seq": 3}]
    assert main(["debug", "history", "--connect", addr, "--json", ACTORS[0]]) == 0
    assert [json.loads(line)["event"] for line in capsys.readouterr().out.splitlines()] == ["start", "ready", "sleep"]
    assert main(["debug", "tail", "--connect", addr, "--json", "--since", "1", "--count", "2"]) == 0
    assert [json.loads(line)["seq"] for line in capsys.readouterr().out.splitlines()] == [2, 3]
    assert main(["debug", "state", "--connect", addr]) == 0
    table = capsys.readouterr().out
    assert ACTORS[0] in table and "swapping" in table
    assert main(["debug", "history", "--connect", addr, ACTORS[0]]) == 0
    assert "sleep" in capsys.readouterr().out
