"""LifecycleActor: the log sees every event before anyone else; illegal commands change nothing."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from fma.actors import ActorSystem, AskTimeout, LifecycleActor, NoSuchActor, UnknownMessage
from fma.events import MemoryLog
from fma.events.fold import fold_log
from fma.statemachines import Effect, IllegalCommand, InstanceLifecycle


class Inst(LifecycleActor):
    lifecycle = InstanceLifecycle


@pytest.fixture
def log() -> MemoryLog:
    return MemoryLog()


@pytest.fixture
def system(log: MemoryLog) -> Iterator[ActorSystem]:
    sys_ = ActorSystem(log)
    yield sys_
    sys_.stop()


def test_every_event_is_in_the_log_before_its_effect_runs(log: MemoryLog) -> None:
    seen: list[tuple[str, int]] = []

    def effects(actor: LifecycleActor, effect: Effect) -> None:
        seen.append((effect.name, log.last_seq))
        assert [r.event for r in log.read(actor=actor.path)][-1] in ("start", "sleep", "stop")

    with ActorSystem(log, effects=effects) as system:
        ref = system.spawn(Inst, "instance/n/a")
        ref.ask("start", {})
        ref.ask("ready")
        ref.ask("sleep", {"level": 1})
    assert seen == [("spawn", 1), ("request_sleep", 3)]


def test_effects_go_to_effect_methods_before_the_injected_handler(log: MemoryLog) -> None:
    calls: list[str] = []

    class WithMethod(Inst):
        def effect_spawn(self, data: dict[str, Any]) -> None:
            calls.append("method")

    with ActorSystem(log, effects=lambda a, e: calls.append("handler:" + e.name)) as system:
        ref = system.spawn(WithMethod, "instance/n/a")
        ref.ask("start")
        ref.ask("ready")
        ref.ask("stop")
    assert calls == ["method", "handler:terminate"]


def test_illegal_command_is_refused_and_nothing_is_logged(system: ActorSystem, log: MemoryLog) -> None:
    ref = system.spawn(Inst, "instance/n/a")
    with pytest.raises(IllegalCommand):
        ref.ask("woke")
    assert len(log) == 0
    assert ref.ask("$state")["state"] == "pending"
    assert ref.ask("start")["state"] == "loading"  # the actor is still alive and well


def test_reply_of_a_trigger_names_the_new_state_and_seq(system: ActorSystem) -> None:
    ref = system.spawn(Inst, "instance/n/a")
    assert ref.ask("start", {"port": 8000}) == {"actor": "instance/n/a", "machine": "instance", "state": "loading", "seq": 1}
    snap = ref.ask("$state")
    assert snap["ctx"] == {"port": 8000}


def test_unknown_message_type_is_an_error_not_a_crash(system: ActorSystem) -> None:
    ref = system.spawn(Inst, "instance/n/a")
    with pytest.raises(UnknownMessage):
        ref.ask("frobnicate")
    assert system.supervisor.restarts("instance/n/a") == 0


def test_actor_started_over_an_existing_log_resumes_from_the_fold(log: MemoryLog) -> None:
    with ActorSystem(log) as first:
        ref = first.spawn(Inst, "instance/n/a")
        for t in ("start", "ready", "sleep", "slept"):
            ref.ask(t)
    with ActorSystem(log) as second:  # a process restart over the same (file) log
        ref = second.spawn(Inst, "instance/n/a")
        assert ref.ask("$state")["state"] == "sleeping"
        assert ref.ask("wake")["state"] == "swapping"
    assert fold_log(log.read())["instance/n/a"].state == "swapping"


def test_tell_is_handled_in_order_with_asks(system: ActorSystem) -> None:
    ref = system.spawn(Inst, "instance/n/a")
    ref.tell("start")
    ref.tell("ready")
    assert ref.ask("$state")["state"] == "awake"


def test_ask_times_out_with_ask_timeout(system: ActorSystem) -> None:
    import threading

    gate = threading.Event()

    class Slow(Inst):
        def handle(self, type: str, body: Any) -> Any:
            if type == "block":
                gate.wait(5)
                return "done"
            return super().handle(type, body)

    ref = system.spawn(Slow, "instance/n/slow")
    ref.tell("block")
    with pytest.raises(AskTimeout):
        ref.ask("$state", timeout=0.05)
    gate.set()
    assert ref.ask("$state")["state"] == "pending"


def test_unknown_path_is_no_such_actor(system: ActorSystem) -> None:
    with pytest.raises(NoSuchActor):
        system.get("instance/n/missing")


def test_routes_answer_like_actors(system: ActorSystem) -> None:
    ref = system.route("launcher/n", lambda t, b: {"type": t, "body": b})
    assert ref.ask("list", {"x": 1}) == {"type": "list", "body": {"x": 1}}
    assert system.paths() == ["launcher/n"]


def test_states_equal_the_fold_of_the_log(system: ActorSystem, log: MemoryLog) -> None:
    a = system.spawn(Inst, "instance/n/a")
    b = system.spawn(Inst, "instance/n/b")
    a.ask("start"), a.ask("ready"), b.ask("start"), b.ask("crashed", {"exit_code": 1})
    log.append("launcher/n", "launcher", "scheduled", "creating", "starting")  # not hosted here
    expected = fold_log(log.read(), strict=False)
    assert {s.actor: s.row() for s in system.states()} == {k: v.row() for k, v in expected.items()}
    assert [s.actor for s in system.states("instance/")] == ["instance/n/a", "instance/n/b"]
