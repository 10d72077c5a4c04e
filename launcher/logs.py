"""Reading an instance's log file with HTTP Range semantics (CONTRACTS.md A3).

``bytes=S-E`` and ``bytes=S-`` only; the open end is capped at 1 MiB after S. The suffix
form (``bytes=-N``), other units, several ranges and ``E < S`` are 400; ``S >= size`` is 416.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

MAX_LOG_BYTES = 1024 * 1024
_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d+)\s*-\s*(\d*)\s*$")


class RangeError(ValueError):
    """Malformed or unsupported Range header (400)."""


class RangeNotSatisfiable(Exception):
    def __init__(self, total: int) -> None:
        super().__init__(f"range start is at or beyond the log's {total} bytes")
        self.total = total


@dataclass(frozen=True)
class Slice:
    start: int
    data: bytes
    total: int

    @property
    def end(self) -> int:
        return self.start + len(self.data) - 1

    def content_range(self) -> str | None:
        return f"bytes {self.start}-{self.end}/{self.total}" if self.data else None


def parse_range(header: str) -> tuple[int, int | None]:
    if "," in header:
        raise RangeError(f"several ranges are not supported: {header!r}")
    m = _RANGE.match(header)
    if m is None:
        if re.match(r"^\s*bytes\s*=\s*-", header):
            raise RangeError(f"suffix ranges (bytes=-N) are not supported: {header!r}")
        raise RangeError(f"unsupported or malformed Range header {header!r}: use bytes=START-END or bytes=START-")
    start = int(m.group(1))
    end = int(m.group(2)) if m.group(2) else None
    if end is not None and end < start:
        raise RangeError(f"range end {end} is before its start {start}")
    return start, end


def read_slice(path: str, start: int = 0, end: int | None = None, ranged: bool = False) -> Slice:
    try:
        total = os.path.getsize(path)
    except FileNotFoundError:
        total = 0
    if ranged and start >= total:
        raise RangeNotSatisfiable(total)
    last = start + MAX_LOG_BYTES - 1 if end is None else end
    last = min(last, total - 1)
    if total == 0 or last < start:
        return Slice(start, b"", total)
    with open(path, "rb") as fh:
        fh.seek(start)
        data = fh.read(last - start + 1)
    return Slice(start, data, total)
