"""Every transition and every illegal command of every lifecycle, generated from the
transition tables (the tables are data, so the tests walk them).

Each machine is explored breadth-first from its initial state with empty data; a
*configuration* is ``(state, ctx)``. For every table row and source state we replay a
shortest path to a configuration where the row applies, fire it and check the event,
the destination and the effects. For every reachable configuration and every trigger the
machine refuses, we check that ``IllegalCommand`` is raised and nothing changed.
"""

from __future__ import annotations

import json
from collections import deque
from functools import cache
from enum import Enum
from typing import Any

import pytest

from fma.statemachines import (
    BindingLifecycle,
    IllegalCommand,
    InstanceLifecycle,
    LauncherLifecycle,
    Lifecycle,
    ProviderLifecycle,
    Transition,
    fold,
)

MACHINES: tuple[type[Lifecycle], ...] = (
    InstanceLifecycle, ProviderLifecycle, BindingLifecycle, LauncherLifecycle,
)
UNKNOWN = "no_such_trigger"


def _key(state: Enum, ctx: dict[str, Any]) -> tuple[str, str]:
    return state.value, json.dumps(ctx, sort_keys=True, default=str)


@cache
def explore(cls: type[Lifecycle]) -> dict[tuple[str, str], list[str]]:
    """Every configuration reachable with empty data -> a shortest trigger path to it."""
    start = cls()
    paths = {_key(start.state, start.ctx): []}
    queue: deque[list[str]] = deque([[]])
    while queue:
        path = queue.popleft()
        lc = drive(cls, path)
        for trig in lc.allowed():
            nxt = drive(cls, path)
            nxt.handle(trig, {})
            key = _key(nxt.state, nxt.ctx)
            if key not in paths:
                paths[key] = path + [trig]
                queue.append(path + [trig])
    return paths


def drive(cls: type[Lifecycle], path: list[str]) -> Lifecycle:
    lc = cls()
    for trig in path:
        lc.handle(trig, {})
    return lc


def _row_cases() -> list[Any]:
    cases = []
    for cls in MACHINES:
        for i, row in enumerate(cls.table):
            for src in row.sources:
                dst = (row.dest or src).value
                guard = f"[{row.guard}]" if row.guard else ""
                cases.append(pytest.param(cls, i, src, id=f"{cls.name}:{src.value}-{row.trigger}{guard}->{dst}"))
    return cases


def _illegal_cases() -> list[Any]:
    cases = []
    for cls in MACHINES:
        for key, path in sorted(explore(cls).items()):
            lc = drive(cls, path)
            allowed = set(lc.allowed())
            for trig in cls.triggers() + [UNKNOWN]:
                if trig not in allowed:
                    ctx = "" if key[1] == "{}" else key[1]
                    cases.append(pytest.param(cls, path, trig, id=f"{cls.name}:{key[0]}{ctx}-{trig}"))
    return cases


def _find_path(cls: type[Lifecycle], row: Transition, src: Enum) -> list[str]:
    for (state, _), path in sorted(explore(cls).items(), key=lambda kv: len(kv[1])):
        if state != src.value:
            continue
        lc = drive(cls, path)
        if row.guard is None or cls.guards[row.guard](lc.ctx, {}):
            return path
    raise AssertionError(f"{cls.name}: row {row.trigger} from {src.value} is unreachable")


@pytest.mark.parametrize("cls,index,src", _row_cases())
def test_transition_emits_its_event_and_effects(cls: type[Lifecycle], index: int, src: Enum) -> None:
    row = cls.table[index]
    path = _find_path(cls, row, src)
    lc = drive(cls, path)
    data = {"note": f"via {row.trigger}", "n": 7}
    step = lc.handle(row.trigger, data)
    dst = row.dest or src
    assert lc.state is dst
    assert len(step.events) == 1
    ev = step.events[0]
    assert (ev.name, ev.src, ev.dst) == (row.trigger, src.value, dst.value)
    assert dict(ev.data) == data
    assert [e.name for e in step.effects] == list(row.effects)
    assert all(dict(e.data) == data for e in step.effects)
    assert lc.ctx["note"] == f"via {row.trigger}"


@pytest.mark.parametrize("cls,path,trigger", _illegal_cases())
def test_illegal_command_raises_and_changes_nothing(cls: type[Lifecycle], path: list[str], trigger: str) -> None:
    lc = drive(cls, path)
    before = lc.snapshot()
    with pytest.raises(IllegalCommand) as info:
        lc.handle(trigger, {"direction": "to_host", "x": 1})
    assert lc.snapshot() == before
    err = info.value
    assert (err.machine, err.state, err.trigger) == (cls.name, before[0], trigger)
    assert trigger in str(err) and before[0] in str(err) and cls.name in str(err)
    if trigger == UNKNOWN:
        assert "unknown trigger" in str(err)


@pytest.mark.parametrize("cls", MACHINES, ids=lambda c: c.name)
def test_every_state_is_reachable_from_the_initial_state(cls: type[Lifecycle]) -> None:
    reached = {state for state, _ in explore(cls)}
    assert reached == {s.value for s in cls.States}


@pytest.mark.parametrize("cls", MACHINES, ids=lambda c: c.name)
def test_final_states_accept_no_trigger(cls: type[Lifecycle]) -> None:
    for state in cls.final:
        assert cls(state=state).allowed() == []
        assert cls(state=state).is_final


@pytest.mark.parametrize("cls", MACHINES, ids=lambda c: c.name)
def test_non_final_states_have_a_way_out(cls: type[Lifecycle]) -> None:
    for (state, _), path in explore(cls).items():
        lc = drive(cls, path)
        if not lc.is_final:
            assert lc.allowed(), f"{cls.name}: {state} is a dead end but not final"


@pytest.mark.parametrize("cls", MACHINES, ids=lambda c: c.name)
def test_every_path_folds_back_to_its_live_state(cls: type[Lifecycle]) -> None:
    for path in explore(cls).values():
        lc = cls()
        events = []
        for trig in path:
            events.extend(lc.handle(trig, {"t": trig}).events)
        assert fold(cls, events) == (lc.state, lc.ctx)


@pytest.mark.parametrize("cls", MACHINES, ids=lambda c: c.name)
def test_table_rows_name_known_kinds_and_guards(cls: type[Lifecycle]) -> None:
    for row in cls.table:
        assert row.kind in ("command", "observation")
        assert row.guard is None or row.guard in cls.guards
        assert all(isinstance(s, cls.States) for s in row.sources)
        assert row.dest is None or isinstance(row.dest, cls.States)


@pytest.mark.parametrize("cls", MACHINES, ids=lambda c: c.name)
def test_shared_trigger_and_source_rows_are_told_apart_by_guards(cls: type[Lifecycle]) -> None:
    seen: dict[tuple[str, Enum], list[Transition]] = {}
    for row in cls.table:
        for src in row.sources:
            seen.setdefault((row.trigger, src), []).append(row)
    for (trig, src), rows in seen.items():
        if len(rows) > 1:
            assert all(r.guard for r in rows), f"{cls.name}: {trig} from {src.value} is ambiguous"
