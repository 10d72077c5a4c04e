"""The event record of CONTRACTS.md B1: ``{v, seq, ts, actor, machine, event, src, dst, data}``."""

from __future__ import annotations

from operator import itemgetter
from types import MappingProxyType
from typing import Any, Mapping, NamedTuple

RECORD_VERSION = 1

_STR_FIELDS = ("actor", "machine", "event", "src", "dst")


class RecordError(ValueError):
    """A mapping that is not a valid event record (wrong version, missing or mistyped field)."""


_EMPTY: Mapping[str, Any] = MappingProxyType({})


class Record(NamedTuple):
    """One fact: ``actor``'s ``machine`` went ``src`` -> ``dst`` through ``event``.

    Immutable (a named tuple: cheap to build, which the append and replay paths need —
    a frozen dataclass costs ~4x more per record). Build with keywords or positions.
    """

    seq: int
    ts: float
    actor: str
    machine: str
    event: str
    src: str
    dst: str
    data: Mapping[str, Any] = _EMPTY
    v: int = RECORD_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": self.v,
            "seq": self.seq,
            "ts": self.ts,
            "actor": self.actor,
            "machine": self.machine,
            "event": self.event,
            "src": self.src,
            "dst": self.dst,
            "data": dict(self.data),
        }

    @classmethod
    def from_dict(cls, raw: Any) -> "Record":
        """Validate ``raw`` (e.g. freshly decoded msgpack) and build a record from it."""
        if type(raw) is dict:  # fast path: what msgpack gives for a well-formed record
            record = _fast(raw)
            if record is not None:
                return record._replace(data=dict(record.data))  # the caller keeps its map
        return cls._from_dict_checked(raw)

    @classmethod
    def _from_dict_checked(cls, raw: Any) -> "Record":
        if not isinstance(raw, Mapping):
            raise RecordError(f"record must be a map, got {type(raw).__name__}")
        v = raw.get("v")
        if v != RECORD_VERSION:
            raise RecordError(f"unsupported record version {v!r} (this build reads v={RECORD_VERSION})")
        seq = raw.get("seq")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            raise RecordError(f"record field 'seq' must be a non-negative int, got {seq!r}")
        ts = raw.get("ts")
        if not isinstance(ts, (int, float)) or isinstance(ts, bool):
            raise RecordError(f"record field 'ts' must be a number, got {ts!r}")
        for name in _STR_FIELDS:
            if not isinstance(raw.get(name), str):
                raise RecordError(f"record field {name!r} must be a string, got {raw.get(name)!r}")
        data = raw.get("data", {})
        if not isinstance(data, Mapping):
            raise RecordError(f"record field 'data' must be a map, got {type(data).__name__}")
        return cls(
            seq=seq,
            ts=float(ts),
            actor=raw["actor"],
            machine=raw["machine"],
            event=raw["event"],
            src=raw["src"],
            dst=raw["dst"],
            data=dict(data),
            v=v,
        )


_tuple_new = tuple.__new__


_FIELDS = ("seq", "ts", "actor", "machine", "event", "src", "dst", "data", "v")
_KEYS = frozenset(_FIELDS)
_TYPES = (int, float, str, str, str, str, str, dict, int)
_values = itemgetter(*_FIELDS)


def _fast(raw: dict[str, Any]) -> Record | None:
    """A record made directly from a freshly decoded map that is exactly well-formed, or
    None (then the checked path gives the precise error). Shares ``raw["data"]``."""
    if raw.keys() != _KEYS:
        return None
    values = _values(raw)
    if tuple(map(type, values)) != _TYPES or values[8] != RECORD_VERSION or values[0] < 0:
        return None
    return _tuple_new(Record, values)  # type: ignore[no-any-return]


def record_from_decoded(raw: Any) -> Record:
    """Like :meth:`Record.from_dict` for a map nobody else holds (fresh from msgpack):
    the record keeps ``raw["data"]`` instead of copying it."""
    if type(raw) is dict:
        record = _fast(raw)
        if record is not None:
            return record
    return Record.from_dict(raw)
