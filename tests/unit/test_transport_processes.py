"""Two processes: asks and tells both ways; a killed peer is reported; a restarted one is reached again."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Iterator

import pytest

from fma.actors import LifecycleActor
from fma.events import MemoryLog
from fma.statemachines import InstanceLifecycle
from fma.transport import Host, PeerDown, connect

ROOT = Path(__file__).resolve().parents[2]

PEER = r'''
import os, sys
from fma.actors import LifecycleActor
from fma.events import FileLog
from fma.statemachines import InstanceLifecycle
from fma.transport import Host, connect

class Inst(LifecycleActor):
    lifecycle = InstanceLifecycle

addr, log_path = sys.argv[1], sys.argv[2]
host = Host(FileLog(log_path), addr, name="peer", heartbeat_s=0.1)
host.spawn(Inst, "instance/peer/a")

def relay(type, body):
    # ask an actor in the process that asked us: traffic in the other direction
    with connect(body["addr"], heartbeat_s=0.1) as back:
        return back.ref(body["path"]).ask(body["type"], body.get("body"))

host.route("relay", relay)
host.route("whoami", lambda t, b: os.getpid())
host.serve()
print("READY", flush=True)
sys.stdin.read()
host.stop()
'''


class Inst(LifecycleActor):
    lifecycle = InstanceLifecycle


def _start_peer(tmp_path: Path, addr: str) -> subprocess.Popen[str]:
    script = tmp_path / "peer.py"
    script.write_text(PEER)
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, str(script), addr, str(tmp_path / "peer.log")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("READY"), f"peer did not start: {line!r}"
    return proc


def _end(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def local() -> Iterator[Host]:
    h = Host(MemoryLog(), "tcp://127.0.0.1:0", name="local", heartbeat_s=0.1)
    h.spawn(Inst, "instance/local/b")
    h.serve()
    yield h
    h.stop()


def test_two_processes_exchange_asks_and_tells_both_ways(tmp_path: Path, local: Host) -> None:
    addr = f"ipc://{tmp_path}/peer.sock"
    proc = _start_peer(tmp_path, addr)
    try:
        with connect(addr, heartbeat_s=0.1) as peer:
            a = peer.ref("instance/peer/a")
            assert a.ask("start", {"port": 9})["state"] == "loading"
            a.tell("ready")
            assert a.ask("$state") == {"actor": "instance/peer/a", "machine": "instance", "state": "awake",
                                       "seq": 2, "ctx": {"port": 9}}
            # the peer asks our actor, over its own connection to us
            reply = peer.ref("relay").ask("x", {"addr": local.address, "path": "instance/local/b", "type": "start"})
            assert reply["state"] == "loading"
            assert local.get("instance/local/b").ask("$state")["state"] == "loading"
            assert peer.ref("whoami").ask("x") == proc.pid
    finally:
        _end(proc)


def test_killed_peer_is_reported_and_a_restarted_one_is_reached_again(tmp_path: Path) -> None:
    addr = f"ipc://{tmp_path}/peer.sock"
    proc = _start_peer(tmp_path, addr)
    down = threading.Event()
    try:
        with connect(addr, heartbeat_s=0.1, on_down=lambda a: down.set()) as peer:
            a = peer.ref("instance/peer/a")
            a.ask("start")
            first_pid = peer.ref("whoami").ask("x")
            proc.kill()
            proc.wait()
            assert down.wait(2), "the dead peer was not reported"
            with pytest.raises(PeerDown):
                a.ask("$state")
            proc = _start_peer(tmp_path, addr)  # same address; the client was not restarted
            assert peer.wait_up(5)
            assert peer.ref("whoami").ask("x") == proc.pid != first_pid
            # the restarted peer rebuilt its actor from its log file
            assert a.ask("$state")["state"] == "loading"
            assert a.ask("ready")["state"] == "awake"
    finally:
        _end(proc)
