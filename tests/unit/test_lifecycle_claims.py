"""Hand-written claims about the lifecycles: the rules of BEHAVIOUR.md as the machines see them."""

from __future__ import annotations

import pytest

from fma.statemachines import (
    LIFECYCLES,
    BindingLifecycle,
    BindingState,
    Event,
    FoldError,
    IllegalCommand,
    InstanceLifecycle,
    InstanceState,
    LauncherLifecycle,
    LauncherState,
    Lifecycle,
    ProviderLifecycle,
    ProviderState,
    Transition,
    fold,
    rebuild,
    register,
)

I = InstanceState


def run(lc: Lifecycle, *triggers: str) -> list[Event]:
    events: list[Event] = []
    for trig in triggers:
        events.extend(lc.handle(trig, {}).events)
    return events


def awake_instance() -> InstanceLifecycle:
    lc = InstanceLifecycle()
    run(lc, "start", "ready")
    return lc


# --- instance --------------------------------------------------------------------------

def test_new_instance_is_pending() -> None:
    assert InstanceLifecycle().state is I.PENDING


def test_start_spawns_and_loads() -> None:
    lc = InstanceLifecycle()
    step = lc.handle("start", {"gpu_uuids": ["GPU-0"]})
    assert lc.state is I.LOADING
    assert [e.name for e in step.effects] == ["spawn"]
    assert step.effects[0].data == {"gpu_uuids": ["GPU-0"]}


def test_sleep_swaps_to_host_then_sleeps() -> None:
    lc = awake_instance()
    step = lc.handle("sleep", {"level": 1})
    assert lc.state is I.SWAPPING and lc.ctx["direction"] == "to_host"
    assert [e.name for e in step.effects] == ["request_sleep"]
    lc.handle("slept")
    assert lc.state is I.SLEEPING and "direction" not in lc.ctx


def test_wake_swaps_to_gpu_then_serves() -> None:
    lc = awake_instance()
    run(lc, "sleep", "slept")
    step = lc.handle("wake")
    assert lc.state is I.SWAPPING and lc.ctx["direction"] == "to_gpu"
    assert [e.name for e in step.effects] == ["request_wake"]
    lc.handle("woke")
    assert lc.state is I.AWAKE and "direction" not in lc.ctx


def test_wake_failure_leaves_instance_asleep() -> None:
    lc = awake_instance()
    run(lc, "sleep", "slept", "wake")
    step = lc.handle("swap_failed", {"reason": "CUDA out of memory"})
    assert lc.state is I.SLEEPING
    assert step.events[0].dst == "sleeping"
    assert "direction" not in lc.ctx


def test_sleep_failure_leaves_instance_awake() -> None:
    lc = awake_instance()
    lc.handle("sleep")
    lc.handle("swap_failed", {"reason": "500"})
    assert lc.state is I.AWAKE


def test_slept_is_refused_while_waking() -> None:
    lc = awake_instance()
    run(lc, "sleep", "slept", "wake")
    with pytest.raises(IllegalCommand, match="guard to_host refused"):
        lc.handle("slept")
    assert lc.state is I.SWAPPING and lc.ctx["direction"] == "to_gpu"


def test_woke_is_refused_while_going_to_sleep() -> None:
    lc = awake_instance()
    lc.handle("sleep")
    with pytest.raises(IllegalCommand):
        lc.handle("woke")
    assert lc.ctx["direction"] == "to_host"


def test_sleep_direction_is_set_by_the_lifecycle_not_by_the_caller() -> None:
    lc = awake_instance()
    lc.handle("sleep", {"direction": "to_gpu"})
    assert lc.ctx["direction"] == "to_host"
    lc.handle("slept")
    assert lc.state is I.SLEEPING


def test_sleeping_twice_is_illegal() -> None:
    lc = awake_instance()
    run(lc, "sleep", "slept")
    with pytest.raises(IllegalCommand):
        lc.handle("sleep")


def test_waking_an_awake_instance_is_illegal() -> None:
    with pytest.raises(IllegalCommand):
        awake_instance().handle("wake")


def test_use_is_recorded_without_changing_state() -> None:
    lc = awake_instance()
    step = lc.handle("used", {"at": 12.5})
    assert lc.state is I.AWAKE
    assert (step.events[0].src, step.events[0].dst) == ("awake", "awake")
    assert lc.ctx["at"] == 12.5 and step.effects == ()


def test_stop_before_start_needs_no_terminate() -> None:
    lc = InstanceLifecycle()
    step = lc.handle("stop")
    assert lc.state is I.STOPPED and step.effects == ()


@pytest.mark.parametrize("path", [("start",), ("start", "ready"), ("start", "ready", "sleep"),
                                  ("start", "ready", "sleep", "slept")])
def test_stop_of_a_live_instance_terminates_then_waits_for_exit(path: tuple[str, ...]) -> None:
    lc = InstanceLifecycle()
    run(lc, *path)
    step = lc.handle("stop")
    assert lc.state is I.STOPPING and [e.name for e in step.effects] == ["terminate"]
    lc.handle("exited", {"exit_code": 0})
    assert lc.state is I.STOPPED and lc.is_final


def test_crash_while_stopping_counts_as_a_stop() -> None:
    lc = awake_instance()
    lc.handle("stop")
    lc.handle("crashed", {"exit_code": -9})
    assert lc.state is I.STOPPED


def test_crash_of_a_serving_instance_is_a_failure() -> None:
    lc = awake_instance()
    lc.handle("crashed", {"exit_code": 137, "reason": "OOM"})
    assert lc.state is I.FAILED and lc.is_final and lc.ctx["exit_code"] == 137


def test_instance_that_could_not_start_is_failed() -> None:
    lc = InstanceLifecycle()
    lc.handle("crashed", {"reason": "spawn refused"})
    assert lc.state is I.FAILED


def test_nothing_happens_to_a_stopped_instance() -> None:
    lc = InstanceLifecycle()
    lc.handle("stop")
    for trig in InstanceLifecycle.triggers():
        with pytest.raises(IllegalCommand):
            lc.handle(trig)


# --- provider --------------------------------------------------------------------------

def test_provider_found_sleeping_after_restart_is_adopted_asleep() -> None:
    lc = ProviderLifecycle()
    lc.handle("adopted_sleeping", {"pod": "p-dual-abc"})
    assert lc.state is ProviderState.SLEEPING
    lc.handle("wake")
    lc.handle("woke")
    assert lc.state is ProviderState.AWAKE


def test_provider_can_only_be_adopted_before_it_is_seen() -> None:
    lc = ProviderLifecycle()
    lc.handle("created")
    with pytest.raises(IllegalCommand):
        lc.handle("adopted_awake")


def test_provider_wake_failure_leaves_it_asleep() -> None:
    lc = ProviderLifecycle(state=ProviderState.SLEEPING)
    lc.handle("wake")
    lc.handle("swap_failed")
    assert lc.state is ProviderState.SLEEPING


def test_provider_deleted_behind_our_back_is_gone() -> None:
    lc = ProviderLifecycle()
    run(lc, "created", "ready")
    lc.handle("vanished")
    assert lc.state is ProviderState.GONE and lc.is_final


def test_provider_delete_asks_for_the_pod_deletion() -> None:
    lc = ProviderLifecycle(state=ProviderState.SLEEPING)
    assert [e.name for e in lc.handle("delete").effects] == ["delete_pod"]
    lc.handle("deleted")
    assert lc.state is ProviderState.GONE


# --- binding ---------------------------------------------------------------------------

def test_binding_tells_the_requester_when_the_provider_serves() -> None:
    lc = BindingLifecycle()
    assert [e.name for e in lc.handle("bind", {"provider": "p", "start": "hot"}).effects] == ["write_binding"]
    assert [e.name for e in lc.handle("serving").effects] == ["become_ready"]
    assert [e.name for e in lc.handle("not_serving").effects] == ["become_unready"]
    assert lc.state is BindingState.BINDING


def test_one_requester_binds_at_most_one_provider() -> None:
    lc = BindingLifecycle()
    lc.handle("bind", {"provider": "p1"})
    with pytest.raises(IllegalCommand):
        lc.handle("bind", {"provider": "p2"})
    assert lc.ctx["provider"] == "p1"


def test_release_drops_the_provider_and_the_finalizer() -> None:
    lc = BindingLifecycle()
    run(lc, "bind", "serving")
    lc.ctx.update(provider="p", start="warm", mode="launcher", instance="I1i")
    assert [e.name for e in lc.handle("unbind").effects] == ["release_provider"]
    assert [e.name for e in lc.handle("released").effects] == ["drop_finalizer"]
    assert lc.state is BindingState.UNBOUND
    assert not {"provider", "start", "mode", "instance"} & set(lc.ctx)


def test_lost_provider_deletes_the_requester() -> None:
    lc = BindingLifecycle()
    lc.handle("bind", {"provider": "p"})
    step = lc.handle("lost", {"reason": "provider deleted"})
    assert [e.name for e in step.effects] == ["delete_requester"]
    assert lc.state is BindingState.UNBOUND and "provider" not in lc.ctx


def test_unbound_binding_can_bind_again() -> None:
    lc = BindingLifecycle()
    run(lc, "bind", "abandoned", "bind")
    assert lc.state is BindingState.BINDING


# --- launcher --------------------------------------------------------------------------

def test_stuck_launcher_is_marked_and_unmarked_on_recovery() -> None:
    lc = LauncherLifecycle()
    assert [e.name for e in lc.handle("stuck", {"reason": "unscheduled"}).effects] == ["mark_stuck"]
    assert [e.name for e in lc.handle("recovered").effects] == ["unmark_stuck"]
    assert lc.state is LauncherState.STARTING


def test_stuck_launcher_that_turns_ready_is_ready() -> None:
    lc = LauncherLifecycle(state=LauncherState.STUCK)
    lc.handle("ready")
    assert lc.state is LauncherState.READY


def test_ready_launcher_cannot_be_stuck() -> None:
    lc = LauncherLifecycle(state=LauncherState.READY)
    with pytest.raises(IllegalCommand):
        lc.handle("stuck")


# --- folding and the registry ----------------------------------------------------------

def test_rebuild_restores_state_and_context() -> None:
    lc = awake_instance()
    events = run(lc, "sleep")
    events = [Event("start", "pending", "loading"), Event("ready", "loading", "awake")] + events
    again = rebuild(InstanceLifecycle, events)
    assert again.snapshot() == lc.snapshot() == ("swapping", {"direction": "to_host"})
    again.handle("slept")
    assert again.state is I.SLEEPING


def test_fold_rejects_an_event_from_the_wrong_state() -> None:
    with pytest.raises(FoldError, match="starts from 'awake'"):
        fold(InstanceLifecycle, [Event("sleep", "awake", "swapping")])


def test_fold_rejects_an_unknown_transition() -> None:
    with pytest.raises(FoldError, match="no transition 'wake'"):
        fold(InstanceLifecycle, [Event("wake", "pending", "swapping")])


def test_fold_rejects_an_impossible_destination() -> None:
    with pytest.raises(FoldError, match="cannot lead to 'failed'"):
        fold(InstanceLifecycle, [Event("start", "pending", "failed")])


def test_fold_rejects_swap_failed_to_the_wrong_side() -> None:
    events = [Event("start", "pending", "loading"), Event("ready", "loading", "awake"),
              Event("sleep", "awake", "swapping"), Event("swap_failed", "swapping", "sleeping")]
    with pytest.raises(FoldError):
        fold(InstanceLifecycle, events)


def test_illegal_command_names_machine_state_and_trigger() -> None:
    with pytest.raises(IllegalCommand) as info:
        InstanceLifecycle().handle("wake")
    assert str(info.value) == "instance: 'wake' is not allowed in state 'pending'"


def test_registry_holds_the_four_core_lifecycles() -> None:
    assert {"instance", "provider", "binding", "launcher"} <= set(LIFECYCLES)
    assert LIFECYCLES["instance"] is InstanceLifecycle


def test_register_adds_a_lifecycle_defined_elsewhere() -> None:
    from enum import Enum

    class Door(str, Enum):
        SHUT = "shut"
        OPEN = "open"

    class DoorLifecycle(Lifecycle):
        name = "test-door"
        States = Door
        initial = Door.SHUT
        table = (Transition("open", (Door.SHUT,), Door.OPEN, "command"),
                 Transition("shut", (Door.OPEN,), Door.SHUT, "command"))

    try:
        assert register(DoorLifecycle) is DoorLifecycle
        assert LIFECYCLES["test-door"] is DoorLifecycle
        lc = DoorLifecycle()
        assert fold(DoorLifecycle, run(lc, "open", "shut", "open")) == (Door.OPEN, {})
    finally:
        LIFECYCLES.pop("test-door", None)


def test_unknown_guard_in_a_table_is_refused_at_class_creation() -> None:
    from enum import Enum

    class S(str, Enum):
        A = "a"

    with pytest.raises(TypeError, match="unknown guard 'nope'"):
        class Bad(Lifecycle):  # noqa: F841
            name = "bad"
            States = S
            initial = S.A
            table = (Transition("x", (S.A,), None, "command", guard="nope"),)
