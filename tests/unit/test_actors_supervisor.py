"""Supervisor: a crashed actor comes back as the fold of its records; nothing is published twice."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from fma.actors import ActorCrashed, ActorSystem, LifecycleActor
from fma.events import MemoryLog, Record
from fma.events.fold import fold_log
from fma.statemachines import Effect, InstanceLifecycle


class Inst(LifecycleActor):
    lifecycle = InstanceLifecycle


class Boom(RuntimeError):
    pass


def _crash_on(effect_name: str, times: int = 1):  # type: ignore[no-untyped-def]
    left = [times]

    def effects(actor: LifecycleActor, effect: Effect) -> None:
        if effect.name == effect_name and left[0] > 0:
            left[0] -= 1
            raise Boom(f"adapter failed doing {effect_name}")

    return effects


def test_actor_killed_mid_work_restarts_in_the_state_its_records_fold_to() -> None:
    log = MemoryLog()
    published: list[Record] = []
    log.subscribe(published.append)
    with ActorSystem(log, effects=_crash_on("request_sleep")) as system:
        ref = system.spawn(Inst, "instance/n/a")
        ref.ask("start")
        ref.ask("ready")
        with pytest.raises(ActorCrashed):
            ref.ask("sleep", {"level": 1})  # event logged, then the effect crashes the actor
        snap = ref.ask("$state")  # waits for the restart, then reaches the new generation
        assert system.supervisor.restarts("instance/n/a") == 1
        folded = fold_log(log.read())["instance/n/a"]
        assert (snap["state"], snap["seq"], snap["ctx"]) == (folded.state, folded.seq, folded.ctx)
        assert snap["state"] == "swapping" and snap["ctx"]["direction"] == "to_host"
        assert ref.ask("slept")["state"] == "sleeping"
    seqs = [r.seq for r in published]
    assert seqs == sorted(set(seqs)) == list(range(1, len(log) + 1))  # each record published once
    assert [r.event for r in log.read()] == ["start", "ready", "sleep", "slept"]


def test_messages_queued_behind_a_crash_reach_the_restarted_actor() -> None:
    log = MemoryLog()
    gate = threading.Event()

    class Gated(Inst):
        def handle(self, type: str, body: Any) -> Any:
            if type == "explode":
                gate.wait(5)
                raise Boom("boom")
            return super().handle(type, body)

    with ActorSystem(log) as system:
        ref = system.spawn(Gated, "instance/n/a")
        ref.tell("explode")
        ref.tell("start")  # queued behind the crash
        ref.tell("ready")
        gate.set()
        assert ref.ask("$state", timeout=5)["state"] == "awake"
        assert system.supervisor.generation("instance/n/a") == 1
    assert [r.event for r in log.read()] == ["start", "ready"]


def test_actor_that_keeps_crashing_is_given_up_and_says_so() -> None:
    log = MemoryLog()

    class Always(Inst):
        def handle(self, type: str, body: Any) -> Any:
            if type == "explode":
                raise Boom("boom")
            return super().handle(type, body)

    system = ActorSystem(log, max_restarts=2)
    try:
        ref = system.spawn(Always, "instance/n/a")
        for _ in range(3):
            with pytest.raises(ActorCrashed):
                ref.ask("explode", timeout=5)
        with pytest.raises(ActorCrashed, match="crashed too often"):
            ref.ask("$state", timeout=5)
    finally:
        system.stop()


def test_restart_rebuilds_from_records_not_from_memory() -> None:
    log = MemoryLog()

    class Forgetful(Inst):
        def handle(self, type: str, body: Any) -> Any:
            if type == "explode":
                self.machine.ctx["junk"] = True  # state that is not in the log
                raise Boom("boom")
            return super().handle(type, body)

    with ActorSystem(log) as system:
        ref = system.spawn(Forgetful, "instance/n/a")
        ref.ask("start", {"port": 1})
        with pytest.raises(ActorCrashed):
            ref.ask("explode")
        assert ref.ask("$state")["ctx"] == {"port": 1}
