"""One suite run against every event-log backend (MemoryLog, FileLog): seq numbering,
read(since, actor), subscribe, thread safety, and the fold of what was appended."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Callable, Iterator

import pytest

from fma.events import EventLog, FileLog, MemoryLog, Record
from fma.events.fold import fold_log

Factory = Callable[[], EventLog]


@pytest.fixture(params=["memory", "file-flush", "file-none", "file-fsync"])
def make_log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Factory]:
    opened: list[EventLog] = []

    def factory() -> EventLog:
        if request.param == "memory":
            log: EventLog = MemoryLog()
        else:
            log = FileLog(tmp_path / "events.log", sync=request.param.split("-")[1])
        opened.append(log)
        return log

    yield factory
    for log in opened:
        log.close()


def fill(log: EventLog, n: int, actors: tuple[str, ...] = ("a", "b")) -> list[Record]:
    return [log.append(actors[i % len(actors)], "m", f"e{i}", "s", "s", {"i": i}) for i in range(n)]


def test_seq_starts_at_one_and_grows_by_one(make_log: Factory) -> None:
    log = make_log()
    assert log.last_seq == 0 and len(log) == 0 and list(log.read()) == []
    recs = fill(log, 5)
    assert [r.seq for r in recs] == [1, 2, 3, 4, 5]
    assert log.last_seq == 5 and len(log) == 5


def test_append_returns_the_record_it_stored(make_log: Factory) -> None:
    log = make_log()
    rec = log.append("instance/n1/I1i", "instance", "start", "pending", "loading", {"gpu": [0]}, ts=12.5)
    assert rec == Record(1, 12.5, "instance/n1/I1i", "instance", "start", "pending", "loading", {"gpu": [0]})
    assert list(log.read()) == [rec]


def test_append_stamps_the_time_when_none_is_given(make_log: Factory) -> None:
    import time

    before = time.time()
    rec = make_log().append("a", "m", "e", "s", "d")
    assert before <= rec.ts <= time.time()
    assert rec.data == {}


def test_read_since_returns_only_later_records(make_log: Factory) -> None:
    log = make_log()
    recs = fill(log, 6)
    assert list(log.read(since=0)) == recs
    assert list(log.read(since=4)) == recs[4:]
    assert list(log.read(since=6)) == []
    assert list(log.read(since=99)) == []
    assert list(log.read(since=-3)) == recs
    assert list(log) == recs


def test_read_filters_by_actor(make_log: Factory) -> None:
    log = make_log()
    recs = fill(log, 7, actors=("a", "b", "c"))
    assert list(log.read(actor="b")) == [r for r in recs if r.actor == "b"]
    assert list(log.read(since=3, actor="a")) == [r for r in recs if r.actor == "a" and r.seq > 3]
    assert list(log.read(actor="nobody")) == []


def test_subscriber_gets_new_records_in_order_and_no_old_ones(make_log: Factory) -> None:
    log = make_log()
    fill(log, 2)
    got: list[Record] = []
    sub = log.subscribe(got.append)
    new = fill(log, 3)
    assert got == new


def test_closed_subscription_gets_nothing_more(make_log: Factory) -> None:
    log = make_log()
    got: list[Record] = []
    with log.subscribe(got.append):
        fill(log, 2)
    fill(log, 2)
    assert [r.seq for r in got] == [1, 2]
    sub = log.subscribe(got.append)
    sub.close()
    sub.close()  # closing twice is harmless


def test_broken_listener_breaks_neither_the_writer_nor_other_listeners(
    make_log: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    log = make_log()
    got: list[int] = []

    def broken(rec: Record) -> None:
        raise RuntimeError("listener bug")

    log.subscribe(broken)
    log.subscribe(lambda r: got.append(r.seq))
    with caplog.at_level(logging.ERROR):
        fill(log, 2)
    assert got == [1, 2]
    assert log.last_seq == 2
    assert "listener failed on seq 1" in caplog.text


def test_listener_may_read_the_log_it_is_told_about(make_log: Factory) -> None:
    log = make_log()
    seen: list[int] = []
    log.subscribe(lambda r: seen.append(list(log.read())[-1].seq))
    fill(log, 3)
    assert seen == [1, 2, 3]


def test_concurrent_appends_get_unique_consecutive_seqs(make_log: Factory) -> None:
    log = make_log()
    delivered: list[int] = []
    log.subscribe(lambda r: delivered.append(r.seq))

    def writer(name: str) -> None:
        for i in range(300):
            log.append(name, "m", "e", "s", "s", {"i": i})

    threads = [threading.Thread(target=writer, args=(f"w{k}",)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    recs = list(log.read())
    assert [r.seq for r in recs] == list(range(1, 1201))
    for k in range(4):
        assert [r.data["i"] for r in recs if r.actor == f"w{k}"] == list(range(300))
    assert delivered == list(range(1, 1201)), "listeners must see records in seq order"


def test_folding_what_was_appended_gives_each_actor_state(make_log: Factory) -> None:
    log = make_log()
    log.append("instance/n/a", "instance", "start", "pending", "loading")
    log.append("instance/n/b", "instance", "stop", "pending", "stopped")
    log.append("instance/n/a", "instance", "ready", "loading", "awake", {"port": 8000})
    states = fold_log(log.read())
    assert {a: (s.state, s.seq) for a, s in states.items()} == {"instance/n/a": ("awake", 3), "instance/n/b": ("stopped", 2)}
    assert states["instance/n/a"].ctx == {"port": 8000}
    assert fold_log(log.read(), until=2)["instance/n/a"].state == "loading"


def test_fold_tracks_unregistered_machines_by_their_destination(make_log: Factory) -> None:
    log = make_log()
    log.append("x/1", "not-a-lifecycle", "go", "here", "there", {"k": 1})
    st = fold_log(log.read())["x/1"]
    assert (st.machine, st.state, st.ctx) == ("not-a-lifecycle", "there", {"k": 1})


def test_fold_strict_rejects_impossible_records_and_lenient_skips_them(make_log: Factory) -> None:
    from fma.statemachines import FoldError

    log = make_log()
    log.append("instance/n/a", "instance", "start", "pending", "loading")
    log.append("instance/n/a", "instance", "slept", "swapping", "sleeping")
    log.append("instance/n/a", "provider", "created", "creating", "starting")
    with pytest.raises(FoldError, match="instance/n/a seq 2"):
        fold_log(log.read())
    st = fold_log(log.read(), strict=False)["instance/n/a"]
    assert (st.state, st.seq) == ("loading", 1)


def test_listener_that_appends_sees_every_record_in_seq_order(make_log: Factory) -> None:
    log = make_log()
    first: list[int] = []
    second: list[int] = []

    def echo(rec: Record) -> None:
        first.append(rec.seq)
        if rec.event == "ping":
            log.append(rec.actor, "m", "pong", "s", "s")

    log.subscribe(echo)
    log.subscribe(lambda r: second.append(r.seq))
    log.append("a", "m", "ping", "s", "s")
    log.append("a", "m", "ping", "s", "s")
    assert first == second == [1, 2, 3, 4]
    assert [r.event for r in log.read()] == ["ping", "pong", "ping", "pong"]


def test_append_many_gives_consecutive_seqs_and_returns_the_records(make_log: Factory) -> None:
    log = make_log()
    log.append("a", "m", "first", "s", "s")
    got: list[int] = []
    log.subscribe(lambda r: got.append(r.seq))
    recs = log.append_many([
        ("a", "m", "e1", "s", "d"),
        ("b", "m", "e2", "s", "d", {"k": 1}),
        ("c", "m", "e3", "s", "d", None, 5.5),
    ])
    assert [r.seq for r in recs] == [2, 3, 4] and got == [2, 3, 4]
    assert (recs[0].data, recs[1].data, recs[2].ts) == ({}, {"k": 1}, 5.5)
    assert list(log.read(since=1)) == recs
    assert log.append("d", "m", "e4", "s", "d").seq == 5


def test_append_many_with_a_bad_entry_stores_nothing(make_log: Factory) -> None:
    log = make_log()
    with pytest.raises(ValueError, match="append_many entry"):
        log.append_many([("a", "m", "e", "s", "d"), ("too", "short")])
    assert log.last_seq == 0 and list(log.read()) == []
    assert log.append_many([]) == []


def test_append_many_writes_the_same_file_as_append(tmp_path: Path) -> None:
    one, many = FileLog(tmp_path / "one.log"), FileLog(tmp_path / "many.log")
    rows = [(f"a{i}", "m", "e", "s", "d", {"i": i}, float(i)) for i in range(50)]
    for row in rows:
        one.append(*row[:6], ts=row[6])
    many.append_many(rows[:20])
    many.append_many(rows[20:])
    one.close()
    many.close()
    assert (tmp_path / "one.log").read_bytes() == (tmp_path / "many.log").read_bytes()
