"""Unit tests of the launcher's parts: fork server, Range parsing, signature notifier, ops."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from launcher.logs import RangeError, RangeNotSatisfiable, parse_range, read_slice
from launcher.podnotifier import ANNOTATION, PodNotifier, signature
from launcher.spawner import ZygoteSpawner


@pytest.fixture(scope="module")
def zygote() -> Iterator[ZygoteSpawner]:
    sp = ZygoteSpawner("sim")
    yield sp
    sp.close()


def _collect(zygote: ZygoteSpawner) -> tuple[dict[int, Any], threading.Event]:
    exits: dict[int, Any] = {}
    done = threading.Event()
    zygote.on_exit = lambda pid, code: (exits.__setitem__(pid, code), done.set())
    return exits, done


def test_forked_child_exit_code_and_output_reach_launcher_and_log(zygote: ZygoteSpawner, tmp_path: Path) -> None:
    exits, done = _collect(zygote)
    log = tmp_path / "out.log"
    pid = zygote.spawn(["no-such-command"], {}, str(log))
    assert done.wait(10) and exits[pid] == 2
    assert "invalid choice" in log.read_text()


def test_forked_child_is_leader_of_its_own_process_group(zygote: ZygoteSpawner, tmp_path: Path) -> None:
    from fma.engines import free_port

    exits, done = _collect(zygote)
    pid = zygote.spawn(["sim-vllm", "--model", "m", "--port", str(free_port())], {"ONLY": "yes"},
                       str(tmp_path / "l.log"))
    try:
        assert os.getpgid(pid) == pid and os.getsid(pid) == pid
    finally:
        os.killpg(pid, 9)
    assert done.wait(10) and exits[pid] == -9


def test_unknown_zygote_engine_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown engine"):
        ZygoteSpawner("nope")


@pytest.mark.parametrize("header,want", [("bytes=0-9", (0, 9)), ("bytes=5-", (5, None)), (" bytes = 3 - 4 ", (3, 4))])
def test_range_forms_fma_accepts(header: str, want: tuple[int, int | None]) -> None:
    assert parse_range(header) == want


@pytest.mark.parametrize("header", ["bytes=-5", "lines=0-1", "bytes=4-3", "bytes=0-1,2-3", "bytes=x-"])
def test_range_forms_that_are_400(header: str) -> None:
    with pytest.raises(RangeError):
        parse_range(header)


def test_range_start_at_size_is_not_satisfiable(tmp_path: Path) -> None:
    p = tmp_path / "f"
    p.write_bytes(b"abc")
    assert read_slice(str(p), 1, None, ranged=True).data == b"bc"
    with pytest.raises(RangeNotSatisfiable) as exc:
        read_slice(str(p), 3, None, ranged=True)
    assert exc.value.total == 3
    assert read_slice(str(p)).content_range() == "bytes 0-2/3"
    p.write_bytes(b"")
    assert read_slice(str(p)).content_range() is None


def test_signature_is_order_independent_sha256_of_sorted_pairs() -> None:
    a = signature([("b", "running"), ("a", "stopped")])
    assert a == signature([("a", "stopped"), ("b", "running")])
    assert len(a) == 64 and a != signature([("a", "running"), ("b", "running")])


class _FakeNode:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.instances: dict[str, Any] = {}
        self.listeners: list[Any] = []

    def add_listener(self, fn: Any) -> None:
        self.listeners.append(fn)


class _Inst:
    def __init__(self, iid: str, status: str) -> None:
        self.instance_id, self._status = iid, status

    def status(self) -> str:
        return self._status


def test_pod_notifier_writes_current_signature_and_retries_failures() -> None:
    node = _FakeNode()
    writes: list[tuple[str, str, dict[str, str]]] = []
    fails = [1]

    class Patcher:
        def annotate(self, ns: str, name: str, ann: dict[str, str]) -> None:
            if fails[0]:
                fails[0] -= 1
                raise RuntimeError("apiserver down")
            writes.append((ns, name, dict(ann)))

    n = PodNotifier(node, "ns", "pod", Patcher(), retry_s=0.01)
    try:
        node.instances["i1"] = _Inst("i1", "running")
        for fn in node.listeners:
            fn()
        deadline = time.monotonic() + 5
        want = signature([("i1", "running")])
        while (not writes or writes[-1][2][ANNOTATION] != want) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert writes[-1] == ("ns", "pod", {ANNOTATION: want})
    finally:
        n.close()


def test_ops_dispatch_maps_errors_to_status_and_detail() -> None:
    from launcher.ops import dispatch

    ok, body = dispatch(object(), "nope", {})
    assert not ok and body["status"] == 400 and "unknown operation" in body["detail"]
    ok, body = dispatch(object(), "health", None)
    assert ok and body == {"status": "OK"}
