"""msgpack encoding of records and the length-prefixed frame format of log files."""

from __future__ import annotations

import struct
from typing import Any

import msgpack

from fma.events.record import Record, RecordError, record_from_decoded

FRAME_HEADER = struct.Struct(">I")
MAX_RECORD_BYTES = 16 * 1024 * 1024
_unpackb = msgpack.unpackb


def encode_record(record: Record) -> bytes:
    return msgpack.packb(_as_map(record), use_bin_type=True)


def _as_map(r: Record) -> dict[str, Any]:
    data = r.data if type(r.data) is dict else dict(r.data)
    return {"v": r.v, "seq": r.seq, "ts": r.ts, "actor": r.actor, "machine": r.machine,
            "event": r.event, "src": r.src, "dst": r.dst, "data": data}


class FrameEncoder:
    """Encodes records into frames with one reusable msgpack packer (not thread-safe:
    one per writer, used under the writer's lock). Same bytes as ``frame(encode_record(r))``."""

    def __init__(self) -> None:
        self._pack = msgpack.Packer(use_bin_type=True).pack
        self._header = FRAME_HEADER.pack

    def frame(self, record: Record) -> bytes:
        payload = self._pack(_as_map(record))
        if len(payload) > MAX_RECORD_BYTES:
            raise RecordError(f"record seq {record.seq} of {len(payload)} bytes exceeds the "
                              f"{MAX_RECORD_BYTES}-byte limit")
        return self._header(len(payload)) + payload

    def frames(self, records: list[Record]) -> list[bytes]:
        return [self.frame(r) for r in records]


def decode_record(payload: bytes) -> Record:
    """Decode one msgpack record; raises :class:`RecordError` for anything else."""
    try:
        raw: Any = _unpackb(payload, raw=False, strict_map_key=False)
    except Exception as exc:  # msgpack raises several unrelated types
        raise RecordError(f"not a msgpack record: {exc}") from exc
    return record_from_decoded(raw)


def frame(payload: bytes) -> bytes:
    """Prefix ``payload`` with its 4-byte big-endian length."""
    if len(payload) > MAX_RECORD_BYTES:
        raise RecordError(f"record of {len(payload)} bytes exceeds the {MAX_RECORD_BYTES}-byte limit")
    return FRAME_HEADER.pack(len(payload)) + payload
