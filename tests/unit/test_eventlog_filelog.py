"""The file log's crash behaviour (CONTRACTS.md B1): a torn last frame is reported and
ignored, nothing before it is lost, appends continue on a frame boundary; a corrupt
frame is an error naming its byte offset."""

from __future__ import annotations

import logging
import struct
from pathlib import Path

import msgpack
import pytest

from fma.events import CorruptLogError, FileLog, Record, read_log_file, read_log_from
from fma.events.codec import MAX_RECORD_BYTES, encode_record, frame

N = 4


def write_log(path: Path, n: int = N) -> list[Record]:
    log = FileLog(path)
    try:
        return [log.append(f"instance/n/{i % 2}", "instance", "used", "awake", "awake", {"at": i, "pad": "x" * i})
                for i in range(n)]
    finally:
        log.close()


def frame_offsets(path: Path) -> list[int]:
    data = path.read_bytes()
    pos, out = 0, []
    while pos < len(data):
        out.append(pos)
        pos += 4 + struct.unpack_from(">I", data, pos)[0]
    return out


def test_file_is_length_prefixed_msgpack_frames(tmp_path: Path) -> None:
    path = tmp_path / "events.log"
    recs = write_log(path, 2)
    data = path.read_bytes()
    (length,) = struct.unpack_from(">I", data, 0)
    first = msgpack.unpackb(data[4:4 + length])
    assert first == {"v": 1, "seq": 1, "ts": recs[0].ts, "actor": "instance/n/0", "machine": "instance",
                     "event": "used", "src": "awake", "dst": "awake", "data": {"at": 0, "pad": ""}}
    assert len(data) == sum(len(frame(encode_record(r))) for r in recs)


def test_reopened_log_continues_the_sequence(tmp_path: Path) -> None:
    path = tmp_path / "events.log"
    recs = write_log(path, 3)
    log = FileLog(path)
    try:
        assert log.last_seq == 3 and log.torn is None
        rec = log.append("a", "m", "e", "s", "d")
        assert rec.seq == 4
        assert list(log.read()) == recs + [rec]
        assert list(log.read(since=2)) == recs[2:] + [rec]
    finally:
        log.close()


def test_file_log_creates_missing_directories(tmp_path: Path) -> None:
    log = FileLog(tmp_path / "a" / "b" / "events.log")
    log.append("a", "m", "e", "s", "d")
    log.close()
    assert [r.seq for r in read_log_file(tmp_path / "a" / "b" / "events.log")] == [1]


def test_unknown_sync_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sync must be none, flush or fsync"):
        FileLog(tmp_path / "x.log", sync="sometimes")


def test_flush_mode_makes_each_record_visible_to_other_readers_at_once(tmp_path: Path) -> None:
    path = tmp_path / "events.log"
    log = FileLog(path, sync="flush")
    try:
        log.append("a", "m", "e", "s", "d")
        assert [r.seq for r in read_log_file(path)] == [1]
    finally:
        log.close()


def test_a_follower_reads_each_record_once_and_leaves_a_record_being_written_for_later(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "events.log"
    recs = write_log(path)
    whole = path.read_bytes()
    last = frame_offsets(path)[-1]
    path.write_bytes(whole[:last + 3])  # the last record half written
    with caplog.at_level(logging.WARNING, logger="fma.events.filelog"):
        first, offset = read_log_from(path)
    assert first == recs[:-1] and offset == last
    assert "torn" not in caplog.text  # a writer mid-record is not damage
    path.write_bytes(whole)
    rest, end = read_log_from(path, offset)
    assert rest == recs[-1:] and end == len(whole)
    assert read_log_from(path, end) == ([], end)


def _last_frame_cuts() -> list[int]:
    """Every byte length of a torn last frame: 1 .. len(frame) - 1 (computed on a sample)."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "events.log"
        write_log(path)
        start = frame_offsets(path)[-1]
        return list(range(1, path.stat().st_size - start))


@pytest.mark.parametrize("torn_bytes", _last_frame_cuts())
def test_torn_last_frame_at_every_offset_keeps_all_earlier_records(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, torn_bytes: int
) -> None:
    path = tmp_path / "events.log"
    recs = write_log(path)
    start = frame_offsets(path)[-1]
    with path.open("r+b") as fh:
        fh.truncate(start + torn_bytes)

    with caplog.at_level(logging.WARNING, logger="fma.events.filelog"):
        assert read_log_file(path) == recs[:-1]
    assert f"torn last frame at byte offset {start} ({torn_bytes} bytes) ignored; {N - 1} complete records kept" in caplog.text
    assert path.stat().st_size == start + torn_bytes, "reading must not modify the file"

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="fma.events.filelog"):
        log = FileLog(path)
    try:
        assert "torn last frame" in caplog.text and str(path) in caplog.text
        assert log.torn is not None and (log.torn.offset, log.torn.size) == (start, torn_bytes)
        assert list(log.read()) == recs[:-1]
        assert log.last_seq == N - 1
        again = log.append("after", "m", "e", "s", "d")
        assert again.seq == N
    finally:
        log.close()
    assert read_log_file(path) == recs[:-1] + [again]


def test_log_with_only_a_torn_frame_opens_empty(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "events.log"
    path.write_bytes(b"\x00\x00")
    with caplog.at_level(logging.WARNING):
        log = FileLog(path)
    try:
        assert log.last_seq == 0 and list(log.read()) == []
        assert "torn last frame at byte offset 0 (2 bytes)" in caplog.text
        assert log.append("a", "m", "e", "s", "d").seq == 1
    finally:
        log.close()
    assert [r.seq for r in read_log_file(path)] == [1]


def test_empty_file_is_an_empty_log(tmp_path: Path) -> None:
    path = tmp_path / "events.log"
    path.touch()
    assert read_log_file(path) == []
    log = FileLog(path)
    assert log.torn is None and log.last_seq == 0
    log.close()


def _corrupt(path: Path, index: int, body: bytes) -> int:
    """Replace frame ``index``'s body by ``body`` (with a correct length); returns its offset."""
    data = path.read_bytes()
    offs = frame_offsets(path)
    start = offs[index]
    end = offs[index + 1] if index + 1 < len(offs) else len(data)
    path.write_bytes(data[:start] + frame(body) + data[end:])
    return start


@pytest.mark.parametrize("body,reason", [
    (b"\xc1\xc1\xc1", "not a msgpack record"),
    (msgpack.packb(42), "record must be a map"),
    (msgpack.packb({"v": 2, "seq": 2}), "unsupported record version 2"),
    (msgpack.packb({"v": 1, "seq": 2, "ts": 0.0, "actor": 5}), "'actor' must be a string"),
], ids=["not-msgpack", "not-a-map", "wrong-version", "bad-field"])
@pytest.mark.parametrize("index", [0, 1, N - 1], ids=["first", "middle", "last"])
def test_corrupt_frame_is_an_error_naming_its_offset(tmp_path: Path, body: bytes, reason: str, index: int) -> None:
    path = tmp_path / "events.log"
    write_log(path)
    offset = _corrupt(path, index, body)
    size = path.stat().st_size
    for opener in (read_log_file, FileLog):
        with pytest.raises(CorruptLogError) as info:
            opener(path)
        err = info.value
        assert err.offset == offset and err.path == str(path)
        assert f"corrupt frame at byte offset {offset}" in str(err) and reason in str(err)
    assert path.stat().st_size == size, "a corrupt log is never truncated"


def test_frame_longer_than_the_limit_is_corruption_not_a_tear(tmp_path: Path) -> None:
    path = tmp_path / "events.log"
    write_log(path, 2)
    end = path.stat().st_size
    with path.open("ab") as fh:
        fh.write(struct.pack(">I", MAX_RECORD_BYTES + 1))
    with pytest.raises(CorruptLogError, match=f"offset {end}: frame length"):
        read_log_file(path)


def test_seq_gap_is_corruption(tmp_path: Path) -> None:
    path = tmp_path / "events.log"
    write_log(path, 3)
    rec = Record(7, 0.0, "a", "m", "e", "s", "d")
    with path.open("ab") as fh:
        fh.write(frame(encode_record(rec)))
    end = frame_offsets(path)[-1]
    with pytest.raises(CorruptLogError, match=f"offset {end}: seq 7 does not follow 3"):
        FileLog(path)


def test_oversized_record_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    from fma.events import RecordError

    path = tmp_path / "events.log"
    log = FileLog(path)
    try:
        with pytest.raises(RecordError, match="exceeds"):
            log.append("a", "m", "e", "s", "d", {"blob": b"x" * (MAX_RECORD_BYTES + 1)})
        assert path.stat().st_size == 0 and log.last_seq == 0
        assert log.append("a", "m", "e", "s", "d").seq == 1
    finally:
        log.close()
    assert [r.seq for r in read_log_file(path)] == [1]


def test_missing_file_for_reading_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_log_file(tmp_path / "nope.log")
