"""msgpack encoding of records and the length-prefixed frame format of log files."""

from __future__ import annotations

import struct
from typing import Any

import msgpack

from fma.events.record import Record, RecordError

FRAME_HEADER = struct.Struct(">I")
MAX_RECORD_BYTES = 16 * 1024 * 1024


def encode_record(record: Record) -> bytes:
    return msgpack.packb(record.to_dict(), use_bin_type=True)


def decode_record(payload: bytes) -> Record:
    """Decode one msgpack record; raises :class:`RecordError` for anything else."""
    try:
        raw: Any = msgpack.unpackb(payload, raw=False, strict_map_key=False)
    except Exception as exc:  # msgpack raises several unrelated types
        raise RecordError(f"not a msgpack record: {exc}") from exc
    return Record.from_dict(raw)


def frame(payload: bytes) -> bytes:
    """Prefix ``payload`` with its 4-byte big-endian length."""
    if len(payload) > MAX_RECORD_BYTES:
        raise RecordError(f"record of {len(payload)} bytes exceeds the {MAX_RECORD_BYTES}-byte limit")
    return FRAME_HEADER.pack(len(payload)) + payload
