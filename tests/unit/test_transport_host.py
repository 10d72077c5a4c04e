"""Host and RemoteHost in one process: asks, tells, deadlines, duplicates, heartbeats, streams, CURVE."""

from __future__ import annotations

import queue
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import msgpack
import pytest
import zmq

from fma.actors import AskTimeout, LifecycleActor, RemoteError
from fma.events import MemoryLog
from fma.statemachines import InstanceLifecycle
from fma.transport import CurveClient, CurveServer, Host, PeerDown, RemoteHost, connect, make_keypair


class Inst(LifecycleActor):
    lifecycle = InstanceLifecycle


@pytest.fixture
def host() -> Iterator[Host]:
    h = Host(MemoryLog(), "tcp://127.0.0.1:0", name="h", heartbeat_s=0.1)
    h.spawn(Inst, "instance/n/a")
    h.route("launcher/n", lambda t, b: {"op": t, "body": b})
    h.serve(default=lambda t, b: {"default": t})
    yield h
    h.stop()


@pytest.fixture
def peer(host: Host) -> Iterator[RemoteHost]:
    c = connect(host.address, heartbeat_s=0.1)
    assert c.wait_up(5)
    yield c
    c.close()


def test_remote_ref_asks_and_tells_an_actor_by_path(host: Host, peer: RemoteHost) -> None:
    ref = peer.ref("instance/n/a")
    assert ref.ask("start", {"port": 1})["state"] == "loading"
    ref.tell("ready")
    assert ref.ask("$state")["state"] == "awake"
    assert host.get("instance/n/a").ask("$state")["ctx"] == {"port": 1}


def test_routes_and_the_default_handler_answer(peer: RemoteHost) -> None:
    assert peer.ref("launcher/n").ask("list", [1]) == {"op": "list", "body": [1]}
    assert peer.ask(None, "hello") == {"default": "hello"}


def test_remote_errors_carry_the_remote_exception_name(peer: RemoteHost) -> None:
    with pytest.raises(RemoteError) as err:
        peer.ref("instance/n/a").ask("woke")
    assert err.value.code == "IllegalCommand" and err.value.body["state"] == "pending"
    with pytest.raises(RemoteError) as err:
        peer.ref("instance/n/nope").ask("start")
    assert err.value.code == "NoSuchActor" and "instance/n/nope" in err.value.message


def test_ask_to_a_slow_actor_times_out_and_the_late_reply_is_ignored(host: Host, peer: RemoteHost) -> None:
    gate = threading.Event()
    host.route("slow", lambda t, b: gate.wait(5))
    with pytest.raises(AskTimeout):
        peer.ref("slow").ask("x", timeout=0.1)
    gate.set()
    assert peer.ref("instance/n/a").ask("$state")["state"] == "pending"


def _dealer(addr: str) -> zmq.Socket:
    s = zmq.Context.instance().socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(addr)
    return s


def _recv(s: zmq.Socket, timeout: float = 5.0) -> dict[str, Any]:
    assert s.poll(int(timeout * 1000)), "no reply"
    return msgpack.unpackb(s.recv(), raw=False)


def test_duplicate_ask_is_handled_once_and_answered_from_the_cache(host: Host) -> None:
    s = _dealer(host.address)
    try:
        frame = msgpack.packb({"v": 1, "id": 1, "kind": "ask", "type": "start", "sender": "dup", "body": {}, "to": "instance/n/a"})
        s.send(frame)
        first = _recv(s)
        s.send(frame)
        second = _recv(s)
        assert first == second and first["kind"] == "reply"
        assert [r.event for r in host.log.read()] == ["start"]
    finally:
        s.close()


def test_duplicate_tell_is_dropped(host: Host) -> None:
    s = _dealer(host.address)
    try:
        frame = msgpack.packb({"v": 1, "id": 9, "kind": "tell", "type": "start", "sender": "dup", "to": "instance/n/a"})
        s.send(frame)
        s.send(frame)  # handled twice it would be an IllegalCommand logged by the actor
        s.send(msgpack.packb({"v": 1, "id": 10, "kind": "ask", "type": "$state", "sender": "dup", "to": "instance/n/a"}))
        assert _recv(s)["body"]["state"] == "loading"  # same connection: after both tells
        assert len(host.log) == 1
    finally:
        s.close()


def test_expired_ask_is_not_handled(host: Host) -> None:
    s = _dealer(host.address)
    try:
        s.send(msgpack.packb({"v": 1, "id": 2, "kind": "ask", "type": "start", "sender": "late",
                              "deadline": time.time() - 1, "to": "instance/n/a"}))
        reply = _recv(s)
        assert reply["kind"] == "error" and reply["body"]["error"] == "DeadlineExceeded"
        assert len(host.log) == 0
    finally:
        s.close()


def test_dead_peer_is_reported_within_three_beats_and_reached_again_after_restart(tmp_path: Path) -> None:
    addr = f"ipc://{tmp_path}/h.sock"
    events: list[tuple[str, float]] = []
    h = Host(MemoryLog(), addr, name="h1").serve(default=lambda t, b: "one")
    c = connect(addr, heartbeat_s=0.1, on_down=lambda a: events.append(("down", time.monotonic())),
                on_up=lambda a: events.append(("up", time.monotonic())))
    try:
        assert c.ask(None, "x") == "one"
        h.stop()
        stopped = time.monotonic()
        assert c.wait_state("down", 2)
        with pytest.raises(PeerDown):
            c.ask(None, "x")
        h = Host(MemoryLog(), addr, name="h2").serve(default=lambda t, b: "two")
        assert c.wait_up(5)
        assert c.ask(None, "x") == "two"
        time.sleep(0.05)  # callbacks run on their own thread
        downs = [t for e, t in events if e == "down"]
        assert len(downs) == 1 and downs[0] - stopped < 0.1 * 3 + 0.25
        assert [e for e, _ in events] == ["up", "down", "up"]
    finally:
        c.close()
        h.stop()


def test_host_reports_a_silent_client(tmp_path: Path) -> None:
    gone = threading.Event()
    h = Host(MemoryLog(), "tcp://127.0.0.1:0", heartbeat_s=0.1, on_peer_down=lambda s: gone.set()).serve(default=lambda t, b: 1)
    try:
        c = connect(h.address, heartbeat_s=0.1, name="client-x")
        assert c.ask(None, "x") == 1
        assert "client-x" in h.peers()
        c.close()
        assert gone.wait(2)
        assert h.peers() == []
    finally:
        h.stop()


def test_event_stream_fills_gaps_from_the_log(host: Host, peer: RemoteHost) -> None:
    ref = host.get("instance/n/a")
    ref.ask("start")
    stream = peer.subscribe(since=0)
    endpoint = host._endpoint
    real = endpoint.pub

    class Lossy:  # drop every other published record
        n = 0

        def send_multipart(self, frames: list[bytes], flags: int = 0) -> None:
            Lossy.n += 1
            if Lossy.n % 2:
                real.send_multipart(frames, flags)

    endpoint.pub = Lossy()
    try:
        for t in ("ready", "sleep", "slept", "wake", "woke", "stop", "exited"):
            ref.ask(t)
        got = [stream.get(5).seq for _ in range(8)]
        assert got == list(range(1, 9))
        assert peer._streams.gaps_filled >= 1
    finally:
        endpoint.pub = real
        stream.close()


def test_event_stream_filters_by_prefix_machine_and_state(host: Host, peer: RemoteHost) -> None:
    host.spawn(Inst, "instance/m/b")
    stream = peer.subscribe(prefix="instance/m/", state="awake")
    for path in ("instance/n/a", "instance/m/b"):
        host.get(path).ask("start")
        host.get(path).ask("ready")
    rec = stream.get(5)
    assert (rec.actor, rec.dst) == ("instance/m/b", "awake")
    stream.close()


def test_refuses_a_public_bind_without_curve_keys() -> None:
    with pytest.raises(ValueError, match="CURVE"):
        Host(MemoryLog(), "tcp://0.0.0.0:0")


def test_curve_keys_let_the_authorized_client_in_and_keep_others_out(tmp_path: Path) -> None:
    pub_s, sec_s = make_keypair(tmp_path / "server", "server")
    pub_c, sec_c = make_keypair(tmp_path / "clients", "client")
    _, sec_x = make_keypair(tmp_path / "strangers", "stranger")
    h = Host(MemoryLog(), "tcp://0.0.0.0:0", name="secure",
             curve=CurveServer(sec_s, authorized_dir=str(tmp_path / "clients"))).serve(default=lambda t, b: "secret")
    port = h.address.rsplit(":", 1)[1]
    good = connect(f"tcp://127.0.0.1:{port}", curve=CurveClient(sec_c, pub_s))
    bad = connect(f"tcp://127.0.0.1:{port}", curve=CurveClient(sec_x, pub_s))
    try:
        assert good.ask(None, "x") == "secret"
        with pytest.raises(AskTimeout):
            bad.ask(None, "x", timeout=0.3)
    finally:
        good.close()
        bad.close()
        h.stop()


def test_crash_and_restart_publish_each_record_once_to_remote_subscribers() -> None:
    class Fragile(Inst):
        def effect_request_sleep(self, data: dict) -> None:
            if not data.get("survive"):
                raise RuntimeError("adapter blew up")

    h = Host(MemoryLog(), "tcp://127.0.0.1:0", name="h", heartbeat_s=0.1)
    h.spawn(Fragile, "instance/n/f")
    h.serve()
    c = connect(h.address, heartbeat_s=0.1)
    try:
        stream = c.subscribe(since=0)
        ref = c.ref("instance/n/f")
        ref.ask("start")
        ref.ask("ready")
        with pytest.raises(RemoteError) as err:
            ref.ask("sleep")  # logged, then the effect crashes the actor
        assert err.value.code == "ActorCrashed"
        assert ref.ask("$state")["state"] == "swapping"  # the restarted generation, folded
        ref.ask("swap_failed")
        ref.ask("sleep", {"survive": True})
        ref.ask("slept")
        got = [stream.get(5) for _ in range(len(h.log))]
        assert [r.seq for r in got] == list(range(1, len(h.log) + 1))
        assert got == list(h.log.read())
        with pytest.raises(queue.Empty):
            stream.get(0.3)  # and nothing more: no record was published twice
        assert h.supervisor.restarts("instance/n/f") == 1
    finally:
        c.close()
        h.stop()
