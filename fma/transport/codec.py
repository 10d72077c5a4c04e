"""The envelope of CONTRACTS.md B2: ``{v, id, kind, type, sender, deadline?, body, to?}``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack

PROTOCOL_VERSION = 1
KINDS = frozenset({"ask", "tell", "reply", "error", "event"})
DEFAULT_MAX_FRAME = 1024 * 1024
MAX_TYPE_LEN = 200


class EnvelopeError(ValueError):
    """A frame that is not a valid envelope. ``code`` names the problem for the error reply;
    ``id``/``sender``/``type`` are whatever could be read, to address that reply."""

    def __init__(self, code: str, message: str, *, id: Any = None, sender: str = "", type: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.id = id
        self.sender = sender
        self.type = type


@dataclass(slots=True)
class Envelope:
    kind: str
    type: str
    id: int | str | None
    sender: str
    body: Any = None
    deadline: float | None = None
    to: str | None = None
    v: int = PROTOCOL_VERSION

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"v": self.v, "id": self.id, "kind": self.kind, "type": self.type,
                               "sender": self.sender, "body": self.body}
        if self.deadline is not None:
            out["deadline"] = self.deadline
        if self.to is not None:
            out["to"] = self.to
        return out

    def reply(self, sender: str, body: Any, ok: bool = True) -> "Envelope":
        return Envelope("reply" if ok else "error", self.type, self.id, sender, body)


def encode(env: Envelope, max_frame: int = DEFAULT_MAX_FRAME) -> bytes:
    blob = msgpack.packb(env.to_dict(), use_bin_type=True, default=_default)
    if len(blob) > max_frame:
        raise EnvelopeError("TooLarge", f"envelope {env.type!r} is {len(blob)} bytes, over the {max_frame}-byte limit",
                            id=env.id, sender=env.sender, type=env.type)
    return blob


def _default(obj: Any) -> Any:
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if hasattr(obj, "value"):  # enums
        return obj.value
    raise TypeError(f"cannot encode {type(obj).__name__} in an envelope")


def pack(obj: Any) -> bytes:
    """msgpack a plain value (debug-socket replies)."""
    return msgpack.packb(obj, use_bin_type=True, default=_default)


def unpack(frame: bytes, max_frame: int = DEFAULT_MAX_FRAME) -> Any:
    """Decode one msgpack value; :class:`EnvelopeError` for oversized, trailing or bad bytes."""
    if len(frame) > max_frame:
        raise EnvelopeError("TooLarge", f"frame of {len(frame)} bytes is over the {max_frame}-byte limit")
    try:
        return msgpack.unpackb(frame, raw=False, strict_map_key=False)
    except Exception as exc:  # msgpack raises several unrelated types
        raise EnvelopeError("BadFrame", f"undecodable frame ({len(frame)} bytes): {type(exc).__name__}: {exc}") from None


def _valid_id(x: Any) -> bool:
    return (isinstance(x, int) and not isinstance(x, bool)) or (isinstance(x, str) and len(x) <= 200)


def decode(frame: bytes, max_frame: int = DEFAULT_MAX_FRAME) -> Envelope:
    """Validate one frame into an :class:`Envelope`; :class:`EnvelopeError` otherwise."""
    raw = unpack(frame, max_frame)
    if not isinstance(raw, dict):
        raise EnvelopeError("BadFrame", f"envelope must be a map, got {type(raw).__name__}")
    id_ = raw.get("id")
    sender = raw.get("sender")
    type_ = raw.get("type")
    known = dict(id=id_ if _valid_id(id_) else None, sender=sender if isinstance(sender, str) else "",
                 type=type_ if isinstance(type_, str) else "")
    v = raw.get("v")
    if v != PROTOCOL_VERSION:
        raise EnvelopeError("BadVersion", f"unsupported envelope version {v!r} (this build speaks v={PROTOCOL_VERSION})", **known)
    kind = raw.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        raise EnvelopeError("BadFrame", f"envelope kind must be one of {sorted(KINDS)}, got {kind!r}", **known)
    if not isinstance(type_, str) or not type_ or len(type_) > MAX_TYPE_LEN:
        raise EnvelopeError("BadFrame", f"envelope type must be a non-empty string, got {type_!r:.80}", **known)
    if not isinstance(sender, str):
        raise EnvelopeError("BadFrame", f"envelope sender must be a string, got {sender!r:.80}", **known)
    if kind in ("ask", "reply", "error") and not _valid_id(id_):
        raise EnvelopeError("BadFrame", f"envelope id must be an int or a short string, got {id_!r:.80}", **known)
    if id_ is not None and not _valid_id(id_):
        raise EnvelopeError("BadFrame", f"envelope id must be an int or a short string, got {id_!r:.80}", **known)
    deadline = raw.get("deadline")
    if deadline is not None and (not isinstance(deadline, (int, float)) or isinstance(deadline, bool)):
        raise EnvelopeError("BadFrame", f"envelope deadline must be unix seconds, got {deadline!r:.80}", **known)
    to = raw.get("to")
    if to is not None and not isinstance(to, str):
        raise EnvelopeError("BadFrame", f"envelope 'to' must be an actor path, got {to!r:.80}", **known)
    return Envelope(kind, type_, id_, sender, raw.get("body"), None if deadline is None else float(deadline), to, v)
