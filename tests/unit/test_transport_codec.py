"""Envelope codec (CONTRACTS.md B2): version check, size limit, clear refusals."""

from __future__ import annotations

import msgpack
import pytest

from fma.transport.codec import Envelope, EnvelopeError, decode, encode


def _raw(**fields: object) -> bytes:
    base = {"v": 1, "id": 7, "kind": "ask", "type": "start", "sender": "c1", "body": {"a": 1}}
    base.update(fields)
    return msgpack.packb({k: v for k, v in base.items() if v is not ...})


def test_envelope_round_trips_with_optional_fields() -> None:
    env = Envelope("ask", "sleep", 3, "ctl", {"level": 1}, deadline=123.5, to="instance/n/x")
    assert decode(encode(env)) == env
    plain = Envelope("tell", "ready", None, "ctl")
    assert decode(encode(plain)) == plain
    assert "deadline" not in msgpack.unpackb(encode(plain))


def test_unknown_version_is_refused_naming_both_versions_and_keeping_the_id() -> None:
    with pytest.raises(EnvelopeError) as err:
        decode(_raw(v=2))
    assert err.value.code == "BadVersion" and "2" in str(err.value) and "v=1" in str(err.value)
    assert (err.value.id, err.value.sender, err.value.type) == (7, "c1", "start")


@pytest.mark.parametrize("fields, fragment", [
    ({"kind": "shout"}, "kind"),
    ({"type": ""}, "type"),
    ({"type": 5}, "type"),
    ({"sender": None}, "sender"),
    ({"id": 1.5}, "id"),
    ({"id": ...}, "id"),
    ({"deadline": "soon"}, "deadline"),
    ({"to": 3}, "to"),
])
def test_mistyped_fields_are_bad_frames_naming_the_field(fields: dict, fragment: str) -> None:
    with pytest.raises(EnvelopeError) as err:
        decode(_raw(**fields))
    assert err.value.code == "BadFrame" and fragment in str(err.value)


@pytest.mark.parametrize("frame", [b"", b"\xc1", b"\x93\x01\x02", msgpack.packb([1, 2]), b"\x85" + b"\x00" * 3])
def test_undecodable_or_non_map_frames_are_bad_frames(frame: bytes) -> None:
    with pytest.raises(EnvelopeError) as err:
        decode(frame)
    assert err.value.code == "BadFrame"


def test_oversized_frames_are_refused_both_ways() -> None:
    big = Envelope("ask", "x", 1, "c", "y" * 2000)
    with pytest.raises(EnvelopeError) as err:
        encode(big, max_frame=1000)
    assert err.value.code == "TooLarge"
    with pytest.raises(EnvelopeError) as err:
        decode(encode(big), max_frame=1000)
    assert err.value.code == "TooLarge"
