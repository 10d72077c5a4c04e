"""The launcher's ZMQ face: the same operations as REST, and readiness pushed as events."""

from __future__ import annotations

import queue
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.contracts.launcher.conftest import _NoClose, launcher_args


@pytest.fixture
def zlauncher(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    from launcher import main
    from launcher.spawner import ZygoteSpawner

    sp = ZygoteSpawner("sim")
    monkeypatch.setattr("launcher.spawner.ZygoteSpawner", lambda engine: sp)
    lz = main.build(launcher_args(tmp_path / "state", zmq="tcp://127.0.0.1:0",
                                  debug_socket=f"ipc://{tmp_path / 'debug.sock'}"))
    lz.spawner = _NoClose(sp)
    yield lz
    lz.close(stop_instances=True)
    sp.close()


def _host(lz: object) -> object:
    from fma.transport import Host

    return next(e for e in lz.extras if isinstance(e, Host))  # type: ignore[attr-defined]


def test_controller_creates_an_instance_over_zmq_and_readiness_arrives_as_a_pushed_event(zlauncher: object) -> None:
    from fma.transport import connect

    host = _host(zlauncher)
    peer = connect(host.address)  # type: ignore[attr-defined]
    try:
        stream = peer.subscribe(prefix="instance/", since=0)
        ref = peer.ref("launcher/n1")
        created = ref.ask("create", {"instance_id": "inst-a", "spec": {"options": "--model tiny --port 18231"}},
                          timeout=30)
        assert created["instance_id"] == "inst-a"
        deadline = time.monotonic() + 30
        seen: list[tuple[str, str]] = []
        while time.monotonic() < deadline:
            try:
                rec = stream.get(timeout=1.0)
            except queue.Empty:
                continue
            seen.append((rec.event, rec.dst))
            if rec.dst == "awake":
                break
        assert ("ready", "awake") in seen, f"no pushed readiness; saw {seen}"
        listed = ref.ask("list", {"detail": False}, timeout=10)
        assert listed["instance_ids"] == ["inst-a"]
        stream.close()
    finally:
        peer.close()


def test_refused_operation_over_zmq_is_an_error_reply_with_the_rest_detail(zlauncher: object) -> None:
    from fma.transport import RemoteError, connect

    peer = connect(_host(zlauncher).address)  # type: ignore[attr-defined]
    try:
        with pytest.raises(RemoteError) as err:
            peer.ref("launcher/n1").ask("get", {"instance_id": "nope"}, timeout=10)
        assert "nope" in str(err.value)
        with pytest.raises(RemoteError):
            peer.ref("launcher/n1").ask("no-such-op", {}, timeout=10)
    finally:
        peer.close()


def test_launcher_debug_socket_state_matches_the_fold_of_its_log(zlauncher: object) -> None:
    from fma.events.fold import fold_log
    from fma.transport import DebugClient, DebugServer

    dbg = next(e for e in zlauncher.extras if isinstance(e, DebugServer))  # type: ignore[attr-defined]
    with DebugClient(dbg.address) as client:
        _, rows = client.state()
    folded = {s.actor: s.state for s in fold_log(zlauncher.node.log.read()).values()}  # type: ignore[attr-defined]
    assert {r.actor: r.state for r in rows} == folded
