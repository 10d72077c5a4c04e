"""Random records survive the msgpack codec and both log backends unchanged, and a
file log cut anywhere opens with exactly the complete frames before the cut."""

from __future__ import annotations

import logging
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fma.events import FileLog, MemoryLog, Record, decode_record, encode_record, read_log_file
from tests.support import examples

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-2**63, 2**64 - 1),
    st.floats(allow_nan=False), st.text(max_size=20), st.binary(max_size=20),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)), max_leaves=10)
names = st.text(min_size=1, max_size=30)
entries = st.tuples(names, names, names, names, names,
                    st.dictionaries(st.text(max_size=10), values, max_size=5),
                    st.floats(min_value=0, max_value=4e9, allow_nan=False))


@contextmanager
def quiet_torn_warnings() -> Iterator[None]:
    logger = logging.getLogger("fma.events.filelog")
    old = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(old)


SETTINGS = settings(max_examples=examples(80), deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.builds(Record, seq=st.integers(0, 2**63), ts=st.floats(allow_nan=False, allow_infinity=False),
                 actor=names, machine=names, event=names, src=names, dst=names,
                 data=st.dictionaries(st.text(max_size=10), values, max_size=5), v=st.just(1)))
def test_codec_round_trips_any_record(record: Record) -> None:
    assert decode_record(encode_record(record)) == record


@SETTINGS
@given(st.lists(entries, max_size=25), st.sampled_from(["none", "flush"]))
def test_file_and_memory_logs_give_back_what_was_appended(batch: list[tuple[Any, ...]], sync: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "events.log"
        flog, mlog = FileLog(path, sync=sync), MemoryLog()
        try:
            stored = []
            for actor, machine, event, src, dst, data, ts in batch:
                a = flog.append(actor, machine, event, src, dst, data, ts=ts)
                b = mlog.append(actor, machine, event, src, dst, data, ts=ts)
                assert a == b
                stored.append(a)
            assert list(flog.read()) == list(mlog.read()) == stored
        finally:
            flog.close()
        assert read_log_file(path) == stored
        reopened = FileLog(path)
        try:
            assert list(reopened.read()) == stored and reopened.last_seq == len(stored)
        finally:
            reopened.close()


@SETTINGS
@given(st.lists(entries, min_size=1, max_size=8), st.data())
def test_log_cut_anywhere_keeps_exactly_the_complete_frames(batch: list[tuple[Any, ...]], data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as d, quiet_torn_warnings():
        path = Path(d) / "events.log"
        log = FileLog(path)
        ends = []
        try:
            stored = []
            for actor, machine, event, src, dst, payload, ts in batch:
                stored.append(log.append(actor, machine, event, src, dst, payload, ts=ts))
                ends.append(path.stat().st_size)
        finally:
            log.close()
        cut = data.draw(st.integers(0, ends[-1]), label="cut")
        with path.open("r+b") as fh:
            fh.truncate(cut)
        complete = sum(1 for e in ends if e <= cut)
        assert read_log_file(path) == stored[:complete]
        log = FileLog(path)
        try:
            assert list(log.read()) == stored[:complete]
            assert log.append("x", "m", "e", "s", "d").seq == complete + 1
        finally:
            log.close()
        assert len(read_log_file(path)) == complete + 1
