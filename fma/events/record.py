"""The event record of CONTRACTS.md B1: ``{v, seq, ts, actor, machine, event, src, dst, data}``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

RECORD_VERSION = 1

_STR_FIELDS = ("actor", "machine", "event", "src", "dst")


class RecordError(ValueError):
    """A mapping that is not a valid event record (wrong version, missing or mistyped field)."""


@dataclass(frozen=True, slots=True)
class Record:
    """One fact: ``actor``'s ``machine`` went ``src`` -> ``dst`` through ``event``."""

    seq: int
    ts: float
    actor: str
    machine: str
    event: str
    src: str
    dst: str
    data: Mapping[str, Any] = field(default_factory=dict)
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
