"""Event log in a file of length-prefixed msgpack frames (CONTRACTS.md B1).

Layout: repeated ``[4-byte big-endian length][msgpack record]``. A process that dies
mid-write leaves a *torn* last frame (short header or short body); opening the file
detects it, logs a warning with the offset, and ignores it — a writer truncates it away
so that its next append starts on a frame boundary. A complete frame whose body is not a
record is corruption, not a tear: :class:`CorruptLogError` names the offset and nothing
is truncated.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

from fma.events.codec import FRAME_HEADER, MAX_RECORD_BYTES, FrameEncoder, decode_record
from fma.events.log import EventLog
from fma.events.record import Record, RecordError

log = logging.getLogger(__name__)


class CorruptLogError(RecordError):
    def __init__(self, path: Path | str, offset: int, reason: str) -> None:
        super().__init__(f"{path}: corrupt frame at byte offset {offset}: {reason}")
        self.path = str(path)
        self.offset = offset
        self.reason = reason


@dataclass(frozen=True)
class TornTail:
    """The incomplete last frame found on open: where it starts and how many bytes it has."""

    offset: int
    size: int


@dataclass
class ScanResult:
    records: list[Record]
    offsets: list[int]
    good_end: int
    torn: TornTail | None


def _scan(path: Path, fh: BinaryIO, keep_records: bool, base: int = 0, warn_torn: bool = True) -> ScanResult:
    """Frames from ``fh``'s position (byte ``base`` of the file) to its end; offsets in the
    result are relative to ``base``."""
    data = fh.read()
    records: list[Record] = []
    offsets: list[int] = []
    keep = records.append if keep_records else None
    mark = offsets.append
    header = FRAME_HEADER.unpack_from
    decode = decode_record
    hsize = FRAME_HEADER.size
    total = len(data)
    pos = 0
    expect = -1
    torn: TornTail | None = None
    while pos < total:
        if total - pos < hsize:
            torn = TornTail(pos, total - pos)
            break
        length = header(data, pos)[0]
        if length > MAX_RECORD_BYTES:
            raise CorruptLogError(path, base + pos, f"frame length {length} exceeds {MAX_RECORD_BYTES}")
        end = pos + hsize + length
        if end > total:
            torn = TornTail(pos, total - pos)
            break
        try:
            record = decode(data[pos + hsize : end])
        except RecordError as exc:
            raise CorruptLogError(path, base + pos, str(exc)) from None
        if record.seq != expect and expect >= 0:
            raise CorruptLogError(path, base + pos, f"seq {record.seq} does not follow {expect - 1}")
        expect = record.seq + 1
        mark(pos)
        if keep is not None:
            keep(record)
        pos = end
    if torn is not None and warn_torn:
        log.warning(
            "%s: torn last frame at byte offset %d (%d bytes) ignored; %d complete records kept",
            path, torn.offset, torn.size, len(offsets),
        )
    return ScanResult(records, offsets, pos if torn is None else torn.offset, torn)


def read_log_file(path: str | os.PathLike[str]) -> list[Record]:
    """Every complete record of a log file, read-only (a torn tail is reported, not cut)."""
    p = Path(path)
    with p.open("rb") as fh:
        return _scan(p, fh, keep_records=True).records


def read_log_from(path: str | os.PathLike[str], offset: int = 0) -> tuple[list[Record], int]:
    """Another process's log, followed: the complete records from byte ``offset`` on, and
    the offset to pass next time. A torn last frame is a record still being written; it
    is left for the next call."""
    p = Path(path)
    with p.open("rb") as fh:
        fh.seek(offset)
        scan = _scan(p, fh, keep_records=True, base=offset, warn_torn=False)
    return scan.records, offset + scan.good_end


class FileLog(EventLog):
    """Append-only file log.

    ``sync``: ``"flush"`` (default) hands every record to the OS (one ``write(2)``) before
    ``append`` returns — a process crash loses nothing; ``"fsync"`` also survives a
    machine crash; ``"none"`` leaves batching to Python's buffer (benchmarks, bulk
    imports; call :meth:`flush`). :meth:`append_many` writes a whole batch at once.
    """

    def __init__(self, path: str | os.PathLike[str], sync: str = "flush") -> None:
        super().__init__()
        if sync not in ("none", "flush", "fsync"):
            raise ValueError(f"sync must be none, flush or fsync, not {sync!r}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._sync = sync
        self.path.touch(exist_ok=True)
        with self.path.open("rb") as fh:
            scan = _scan(self.path, fh, keep_records=False)
        self.torn = scan.torn
        if scan.torn is not None:
            with self.path.open("r+b") as fh:
                fh.truncate(scan.good_end)
        self._offsets = scan.offsets
        self._first_seq = 1
        if scan.offsets:
            with self.path.open("rb") as fh:
                first = self._read_at(fh, scan.offsets[0])
                self._first_seq = first.seq
            self._last_seq = self._first_seq + len(scan.offsets) - 1
        self._size = scan.good_end
        self._encoder = FrameEncoder()
        self._frame = self._encoder.frame
        # flush/fsync: unbuffered, one write(2) per append; none: Python's buffer batches.
        self._fh: BinaryIO = self.path.open("ab", buffering=-1 if sync == "none" else 0)

    def _read_at(self, fh: BinaryIO, offset: int) -> Record:
        fh.seek(offset)
        (length,) = FRAME_HEADER.unpack(fh.read(FRAME_HEADER.size))
        return decode_record(fh.read(length))

    def _write(self, blob: bytes) -> None:
        """Write whole frames; with sync flush/fsync a failed write is cut back off the
        file so that the next append still starts on a frame boundary."""
        fh = self._fh
        if self._sync == "none":
            fh.write(blob)
            return
        try:
            done = fh.write(blob)
            while done < len(blob):  # a short write (rare on a regular file): finish it
                done += fh.write(memoryview(blob)[done:])
            if self._sync == "fsync":
                os.fsync(fh.fileno())
        except BaseException:
            try:
                os.ftruncate(fh.fileno(), self._size)
            except OSError:
                log.exception("%s: could not cut a failed append back to byte %d", self.path, self._size)
            raise

    def _store(self, record: Record) -> None:
        blob = self._frame(record)
        self._write(blob)
        if not self._offsets:
            self._first_seq = record.seq
        self._offsets.append(self._size)
        self._size += len(blob)

    def _store_many(self, records: list[Record]) -> None:
        blobs = self._encoder.frames(records)  # raises before anything is written
        self._write(b"".join(blobs))
        if not self._offsets:
            self._first_seq = records[0].seq
        offsets, size = self._offsets, self._size
        for blob in blobs:
            offsets.append(size)
            size += len(blob)
        self._size = size

    def flush(self) -> None:
        with self._lock:
            self._fh.flush()

    def _iter_from(self, since: int) -> Iterator[Record]:
        with self._lock:
            self._fh.flush()
            index = max(since - self._first_seq + 1, 0)
            if index >= len(self._offsets):
                return iter(())
            start = self._offsets[index]
            end = self._size
        with self.path.open("rb") as fh:
            fh.seek(start)
            chunk = fh.read(end - start)
        return self._frames(chunk, start)

    def _frames(self, chunk: bytes, base: int) -> Iterator[Record]:
        pos = 0
        hsize = FRAME_HEADER.size
        while pos < len(chunk):
            (length,) = FRAME_HEADER.unpack_from(chunk, pos)
            try:
                yield decode_record(chunk[pos + hsize : pos + hsize + length])
            except RecordError as exc:
                raise CorruptLogError(self.path, base + pos, str(exc)) from None
            pos += hsize + length

    def close(self) -> None:
        with self._lock:
            if not self._fh.closed:
                self._fh.close()
