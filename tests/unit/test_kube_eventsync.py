"""fma.kube.eventsync: selected event-log records become Kubernetes Events on the Pod or
Node their actor path names, without ever making the log writer wait."""

from __future__ import annotations

import threading
import time
from typing import Any, Iterator

import pytest

from fma.events import MemoryLog, Record
from fma.kube.eventsync import EventSync, Involved, Rule, TokenBucket, describe, involved_from_actor

@pytest.fixture(scope="module")
def emu() -> Iterator[Any]:
    from fma.kube.emulator import Emulator

    with Emulator(port=0, crd_dir=None) as e:
        yield e


@pytest.fixture
def rest(emu: Any) -> Iterator[Any]:
    from fma.kube import Rest

    api = emu.api_client()
    yield Rest(api)
    api.close()


def eventually(fn: Any, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        out = fn()
        if out or time.monotonic() > deadline:
            return out
        time.sleep(0.02)


def events_about(rest: Any, ns: str, name: str) -> list[dict]:
    return rest.list("events", ns, field_selector=f"involvedObject.name={name}")["items"]


def rec(actor: str, machine: str, event: str, src: str = "a", dst: str = "b", **data: Any) -> Record:
    return Record(1, 0.0, actor, machine, event, src, dst, data)


@pytest.mark.parametrize("actor,want", [
    ("binding/team-a/req-1", Involved("Pod", "req-1", "team-a", "pods")),
    ("provider/team-a/prov-7", Involved("Pod", "prov-7", "team-a", "pods")),
    ("launcher/node-a", Involved("Node", "node-a", None, "nodes")),
    ("instance/node-a/I123", Involved("Node", "node-a", None, "nodes")),
    ("binding/only-ns", None), ("something/else", None), ("", None),
])
def test_actor_path_names_the_involved_object(actor: str, want: Involved | None) -> None:
    assert involved_from_actor(rec(actor, "x", "y")) == want


def test_message_says_actor_transition_and_simple_data() -> None:
    msg = describe(rec("binding/ns/r", "binding", "bind", "unbound", "binding", provider="p1", start="hot",
                       nested={"x": 1}))
    assert msg == "binding/ns/r bind: unbound -> binding (provider=p1, start=hot)"
    assert len(describe(rec("a", "m", "e", note="x" * 5000), limit=100)) == 100


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    now = [0.0]
    b = TokenBucket(rate=2.0, burst=3, clock=lambda: now[0])
    assert [b.delay() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert b.delay() == pytest.approx(0.5)
    now[0] += 0.5
    assert b.delay() == 0.0
    now[0] += 10
    assert [b.delay() for _ in range(4)][:3] == [0.0, 0.0, 0.0]  # refill stops at the burst


def test_binding_decision_becomes_an_event_on_the_requester_pod(rest: Any) -> None:
    pod = rest.create("pods", "default", {"metadata": {"name": "req-sync-1"},
                                          "spec": {"containers": [{"name": "c", "image": "x:1"}]}})
    log = MemoryLog()
    with EventSync(rest, log) as sync:
        log.append("binding/default/req-sync-1", "binding", "bind", "unbound", "binding",
                   {"provider": "prov-1", "start": "hot"})
        got = eventually(lambda: events_about(rest, "default", "req-sync-1"))
    assert len(got) == 1
    ev = got[0]
    assert ev["reason"] == "Binding" and ev["type"] == "Normal"
    assert ev["involvedObject"]["kind"] == "Pod" and ev["involvedObject"]["uid"] == pod["metadata"]["uid"]
    assert "provider=prov-1" in ev["message"] and ev["source"]["component"] == "fma"
    assert sync.stats["sent"] == 1


def test_instance_failure_becomes_a_warning_on_its_node(rest: Any) -> None:
    rest.create("nodes", None, {"metadata": {"name": "node-sync"}})
    log = MemoryLog()
    with EventSync(rest, log) as sync:
        log.append("instance/node-sync/Iabc", "instance", "crashed", "awake", "failed", {"exit_code": 137})
        got = eventually(lambda: events_about(rest, "default", "node-sync"))
    assert [(e["reason"], e["type"], e["involvedObject"]["kind"]) for e in got] == [
        ("InstanceFailed", "Warning", "Node")]
    assert "instance/node-sync/Iabc crashed" in got[0]["message"] and "exit_code=137" in got[0]["message"]
    assert sync.stats["sent"] == 1


def test_unselected_and_unresolvable_records_post_nothing(rest: Any) -> None:
    log = MemoryLog()
    with EventSync(rest, log, rules={("binding", "bind"): Rule("Binding")}) as sync:
        log.append("instance/node-x/I1", "instance", "ready", "loading", "awake")  # not selected
        log.append("binding/malformed", "binding", "bind", "unbound", "binding")  # no object
        assert eventually(lambda: sync.stats["unresolved"] == 1)
    assert sync.stats == {"seen": 1, "queued": 1, "dropped": 0, "sent": 0, "failed": 0, "unresolved": 1}


def test_a_missing_object_still_gets_its_event(rest: Any) -> None:
    log = MemoryLog()
    with EventSync(rest, log) as sync:
        log.append("binding/default/gone-pod", "binding", "lost", "bound", "unbound")
        got = eventually(lambda: events_about(rest, "default", "gone-pod"))
    assert got[0]["reason"] == "ProviderLost" and not got[0]["involvedObject"].get("uid")
    assert sync.stats["sent"] == 1


class StuckRest:
    """A Rest stand-in whose calls block until released."""

    def __init__(self) -> None:
        self.entered, self.release, self.calls = threading.Event(), threading.Event(), 0

    def get(self, *args: Any) -> dict:
        self.calls += 1
        self.entered.set()
        self.release.wait(5)
        return {"metadata": {"name": args[2], "namespace": args[1]}}

    def create(self, *args: Any) -> dict:
        return {}


def test_a_full_queue_drops_records_and_never_blocks_the_writer() -> None:
    stuck = StuckRest()
    log = MemoryLog()
    sync = EventSync(stuck, log, queue_size=2).start()  # type: ignore[arg-type]
    try:
        log.append("binding/ns/r0", "binding", "bind", "unbound", "binding")
        assert stuck.entered.wait(5)  # the worker is busy with r0
        for i in range(1, 10):
            log.append(f"binding/ns/r{i}", "binding", "bind", "unbound", "binding")
        assert sync.stats["dropped"] == 7 and sync.stats["queued"] == 3
        stuck.release.set()
        assert eventually(lambda: sync.stats["sent"] == 3)
    finally:
        stuck.release.set()
        sync.stop()
    assert sync._thread is None


def test_stop_unsubscribes(rest: Any) -> None:
    log = MemoryLog()
    sync = EventSync(rest, log).start()
    sync.stop()
    log.append("binding/default/after-stop", "binding", "bind", "unbound", "binding")
    assert sync.stats["seen"] == 0
