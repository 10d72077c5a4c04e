"""Random frames against a live ROUTER endpoint and a live debug socket: nothing dies, every
frame that can be answered is answered (bad ones with an error and a log line), and valid
requests afterwards still work."""

from __future__ import annotations

import itertools
import logging
from typing import Any, Iterator

import msgpack
import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fma.actors import LifecycleActor
from fma.events import MemoryLog
from fma.statemachines import InstanceLifecycle
from fma.transport import Host
from tests.support import examples

MAX_FRAME = 4096
_unique_ids = itertools.count()
ints = st.integers(min_value=-(2**63), max_value=2**63 - 1)  # what msgpack can carry
text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=6)


class Inst(LifecycleActor):
    lifecycle = InstanceLifecycle


@pytest.fixture(scope="module")
def host() -> Iterator[Host]:
    h = Host(MemoryLog(), "tcp://127.0.0.1:0", debug_socket="tcp://127.0.0.1:0", name="target", max_frame=MAX_FRAME)
    h.spawn(Inst, "instance/n/a")
    h.route("echo", lambda t, b: b)
    h.serve()
    yield h
    h.stop()


@pytest.fixture(scope="module")
def sockets(host: Host) -> Iterator[tuple[zmq.Socket, zmq.Socket]]:
    ctx = zmq.Context.instance()
    socks = []
    for addr in (host.address, host.debug_address):
        s = ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(addr)
        socks.append(s)
    yield socks[0], socks[1]
    for s in socks:
        s.close()


# --- frames for the ROUTER endpoint: (parts, expects_reply, is_bad) ----------------------
ids = st.one_of(st.integers(min_value=0, max_value=2**20), text)
types = st.sampled_from(["start", "ready", "sleep", "$state", "echo", "frob", "$ping", "$hello", "$read", "$nope"])
paths = st.sampled_from([None, "instance/n/a", "echo", "missing/x"])


@st.composite
def valid_envelopes(draw: Any) -> dict[str, Any]:
    env = {"v": 1, "id": draw(ids), "kind": draw(st.sampled_from(["ask", "ask", "tell"])), "type": draw(types),
           "sender": draw(st.sampled_from(["fuzz-a", "fuzz-b"])), "body": draw(st.one_of(st.none(), st.dictionaries(text, ints, max_size=3)))}
    to = draw(paths)
    if to is not None:
        env["to"] = to
    return env


def _unique(env: dict[str, Any]) -> dict[str, Any]:
    """A fresh id per sent frame: duplicate suppression is a unit test; here it would hide replies."""
    if isinstance(env.get("id"), (int, str)) and not isinstance(env.get("id"), bool):
        return {**env, "id": f"{env['id']}-{next(_unique_ids)}"}
    return env


@st.composite
def endpoint_frames(draw: Any) -> tuple[Any, bool, bool]:
    """(build() -> parts, expects a reply, is bad)."""
    kind = draw(st.sampled_from(["valid", "truncated", "version", "types", "oversized", "random", "multipart", "kind"]))
    env = draw(valid_envelopes())
    if kind == "valid":
        unknown_op = env["type"] in ("$nope", "$state") and "to" not in env  # valid frame, no such host op
        return (lambda: [msgpack.packb(_unique(env))]), env["kind"] == "ask", unknown_op
    if kind == "truncated":
        cut = draw(st.floats(min_value=0, max_value=0.999))
        def truncated() -> list[bytes]:
            blob = msgpack.packb(_unique(env))
            return [blob[: int(len(blob) * cut)]]
        return truncated, True, True
    if kind == "version":
        env["v"] = draw(st.one_of(ints.filter(lambda v: v != 1), text, st.none()))
    elif kind == "types":
        field = draw(st.sampled_from(["type", "sender", "id", "deadline", "to", "kind"]))
        wrong = st.one_of(st.lists(ints, max_size=2), st.binary(max_size=4))  # a float is a valid deadline
        env[field] = draw(wrong if field == "deadline" else st.one_of(st.floats(allow_nan=False), wrong))
    elif kind == "oversized":
        env["body"] = "x" * draw(st.integers(MAX_FRAME, 3 * MAX_FRAME))
    elif kind == "random":
        blob = draw(st.binary(max_size=64))
        return (lambda: [blob]), True, True
    elif kind == "kind":
        env["kind"] = draw(st.sampled_from(["reply", "error", "event"]))
    else:
        extra = draw(st.lists(st.binary(max_size=16), min_size=1, max_size=2))
        return (lambda: [msgpack.packb(_unique(env))] + extra), True, True
    return (lambda: [msgpack.packb(_unique(env))]), True, True


def _drain(sock: zmq.Socket, n: int) -> list[Any]:
    out = []
    for _ in range(n):
        assert sock.poll(5000), f"only {len(out)} of {n} replies"
        out.append(msgpack.unpackb(sock.recv(), raw=False, strict_map_key=False))
    assert not sock.poll(30), "more replies than frames that can be answered"
    return out


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frames=st.lists(endpoint_frames(), min_size=1, max_size=12))
def test_router_endpoint_answers_garbage_with_errors_and_keeps_serving(
    host: Host, sockets: tuple[zmq.Socket, zmq.Socket], frames: list[tuple[Any, bool, bool]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    router, _ = sockets
    endpoint = host._endpoint
    refused_before = endpoint.refused
    logged_before = len(caplog.records)  # caplog lives across hypothesis examples
    with caplog.at_level(logging.WARNING, logger="fma.transport.server"):
        for build, _, _ in frames:
            router.send_multipart(build())
        expected = sum(1 for _, reply, _ in frames if reply)
        replies = _drain(router, expected)
        bad = sum(1 for _, _, is_bad in frames if is_bad)
        errors = [r for r in replies if r["kind"] == "error"]
        assert len(errors) >= sum(1 for _, reply, is_bad in frames if is_bad and reply)
        assert endpoint.refused - refused_before == bad
        assert sum("bad frame" in r.getMessage() for r in caplog.records[logged_before:]) == bad
    # still alive and serving: a valid ask right after the garbage
    router.send(msgpack.packb({"v": 1, "id": "after", "kind": "ask", "type": "$ping", "sender": "fuzz-check"}))
    (pong,) = _drain(router, 1)
    assert pong["kind"] == "reply" and pong["id"] == "after"
    assert endpoint.loop._thread is not None and endpoint.loop._thread.is_alive()
    assert host.get("instance/n/a").ask("$state")["actor"] == "instance/n/a"


# --- frames for the debug socket: (parts, is_bad) ----------------------------------------
good_requests = st.one_of(
    st.just({"op": "state"}), st.just({"op": "ping"}), st.just({"op": "history", "actor": "instance/n/a"}),
    st.builds(lambda p: {"op": "state", "prefix": p}, text),
)
bad_requests = st.one_of(
    st.dictionaries(text, st.one_of(ints, text, st.none()), max_size=4)
    .filter(lambda d: d.get("op") not in ("state", "ping", "history", "tail", "untail")),
    st.builds(lambda op, v: {"op": op, "since": v, "actor": v, "prefix": v},
              st.sampled_from(["history", "tail", "state"]), st.one_of(st.integers(min_value=-(2**63), max_value=-1), st.floats(allow_nan=False), st.lists(ints, max_size=2))),
    st.one_of(ints, text, st.lists(ints, max_size=3)),
)


@st.composite
def debug_frames(draw: Any) -> tuple[list[bytes], bool]:
    kind = draw(st.sampled_from(["good", "bad", "random", "oversized", "multipart", "truncated"]))
    if kind == "good":
        return [msgpack.packb(draw(good_requests))], False
    if kind == "bad":
        return [msgpack.packb(draw(bad_requests))], True
    if kind == "random":
        return [draw(st.binary(min_size=1, max_size=64).filter(lambda b: b != b"" ))], True
    if kind == "oversized":
        return [msgpack.packb({"op": "state", "prefix": "x" * draw(st.integers(MAX_FRAME, 3 * MAX_FRAME))})], True
    if kind == "truncated":
        blob = msgpack.packb({"op": "history", "actor": "instance/n/a"})
        return [blob[: draw(st.integers(1, len(blob) - 1))]], True
    return [msgpack.packb({"op": "state"}), draw(st.binary(max_size=8))], True


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frames=st.lists(debug_frames(), min_size=1, max_size=12))
def test_debug_socket_answers_every_frame_and_keeps_serving(
    host: Host, sockets: tuple[zmq.Socket, zmq.Socket], frames: list[tuple[list[bytes], bool]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, debug = sockets
    logged_before = len(caplog.records)
    with caplog.at_level(logging.WARNING, logger="fma.transport.debugsock"):
        for parts, _ in frames:
            debug.send_multipart(parts)
        replies = _drain(debug, len(frames))
        for (_, is_bad), reply in zip(frames, replies):
            assert reply["ok"] is (not is_bad), reply
            if is_bad:
                assert isinstance(reply["error"], str) and reply["error"]
        assert sum("bad request" in r.getMessage() for r in caplog.records[logged_before:]) == sum(b for _, b in frames)
    assert host._debug.loop._thread is not None and host._debug.loop._thread.is_alive()
    debug.send(msgpack.packb({"op": "state"}))
    (state,) = _drain(debug, 1)
    assert state["ok"] is True and any(a["actor"] == "instance/n/a" for a in state["actors"]) or state["actors"] == []
