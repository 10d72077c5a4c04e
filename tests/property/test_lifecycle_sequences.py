"""Random legal and illegal triggers with random data against every lifecycle.

Invariants after every step: the state is one of the machine's states; an illegal
trigger changes neither state nor context; folding the emitted events gives the live
``(state, ctx)``; and the same events written as records to a MemoryLog and a FileLog
fold (``fold_log``) to the same state and context.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from fma.events import FileLog, MemoryLog, read_log_file
from fma.events.fold import fold_log
from fma.statemachines import (
    BindingLifecycle,
    Event,
    IllegalCommand,
    InstanceLifecycle,
    LauncherLifecycle,
    Lifecycle,
    ProviderLifecycle,
    fold,
)
from tests.support import examples

# Values that survive a msgpack round trip unchanged (no tuples, no NaN).
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-2**63, 2**64 - 1),
    st.floats(allow_nan=False), st.text(max_size=8), st.binary(max_size=8),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)), max_leaves=6)
# Keys the lifecycles read or clear appear often, so data can fight the guards.
keys = st.one_of(st.sampled_from(["direction", "provider", "start", "mode", "instance", "reason", "at"]),
                 st.text(max_size=6))
datas = st.dictionaries(keys, st.one_of(values, st.sampled_from(["to_host", "to_gpu"])), max_size=4)


def make_machine(cls: type[Lifecycle]) -> type[RuleBasedStateMachine]:
    actor = f"{cls.name}/test/a"

    class Sequences(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.lc = cls()
            self.events: list[Event] = []
            self.mem = MemoryLog()
            self.dir = Path(tempfile.mkdtemp(prefix="fma-lc-"))
            self.file = FileLog(self.dir / "events.log", sync="none")

        def _record(self, events: tuple[Event, ...]) -> None:
            for ev in events:
                self.events.append(ev)
                for log in (self.mem, self.file):
                    log.append(actor, cls.name, ev.name, ev.src, ev.dst, ev.data, ts=0.0)

        @rule(trigger=st.sampled_from(cls.triggers()), data=datas)
        def known_trigger(self, trigger: str, data: dict[str, Any]) -> None:
            legal = trigger in self.lc.allowed() and self._guard_ok(trigger, data)
            before = self.lc.snapshot()
            try:
                step = self.lc.handle(trigger, data)
            except IllegalCommand:
                assert not legal, f"{trigger} was allowed in {before[0]} but refused"
                assert self.lc.snapshot() == before
                return
            assert legal, f"{trigger} was refused by the model but accepted"
            assert len(step.events) == 1 and step.events[0].name == trigger
            self._record(step.events)

        @rule(trigger=st.text(min_size=1, max_size=10), data=datas)
        def unknown_trigger(self, trigger: str, data: dict[str, Any]) -> None:
            if trigger in cls.triggers():
                return
            before = self.lc.snapshot()
            with pytest.raises(IllegalCommand, match="unknown trigger"):
                self.lc.handle(trigger, data)
            assert self.lc.snapshot() == before

        @rule()
        def reopen_file_log(self) -> None:
            self.file.close()
            self.file = FileLog(self.dir / "events.log", sync="none")
            assert self.file.last_seq == len(self.events)

        def _guard_ok(self, trigger: str, data: dict[str, Any]) -> bool:
            rows = cls._index.get((trigger, self.lc.state), ())
            return any(r.guard is None or cls.guards[r.guard](self.lc.ctx, data) for r in rows)

        @invariant()
        def state_is_one_of_the_machine_states(self) -> None:
            assert self.lc.state in set(cls.States)

        @invariant()
        def fold_of_emitted_events_is_the_live_state(self) -> None:
            assert fold(cls, self.events) == (self.lc.state, self.lc.ctx)

        @invariant()
        def logs_fold_to_the_live_state(self) -> None:
            want = (self.lc.state.value, self.lc.ctx)
            self.file.flush()
            for records in (list(self.mem.read()), read_log_file(self.dir / "events.log")):
                assert len(records) == len(self.events)
                states = fold_log(records)
                if not self.events:
                    assert states == {}
                    continue
                got = states[actor]
                assert (got.state, got.ctx) == want
                assert got.machine == cls.name and got.seq == len(self.events)

        def teardown(self) -> None:
            self.file.close()
            shutil.rmtree(self.dir, ignore_errors=True)

    Sequences.__name__ = f"{cls.__name__}Sequences"
    Sequences.TestCase.settings = settings(
        max_examples=examples(50), stateful_step_count=30, deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    return Sequences


TestInstanceSequences = make_machine(InstanceLifecycle).TestCase
TestProviderSequences = make_machine(ProviderLifecycle).TestCase
TestBindingSequences = make_machine(BindingLifecycle).TestCase
TestLauncherSequences = make_machine(LauncherLifecycle).TestCase
