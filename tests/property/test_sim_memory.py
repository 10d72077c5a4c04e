"""Simulated GPU memory: any sequence of start/sleep/wake/stop keeps every GPU within its
bytes; a claim that does not fit changes nothing and fails like a CUDA OOM."""

from __future__ import annotations

import re

import hypothesis.strategies as st
from hypothesis import given, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from fma.engines.sim.ledger import GpuMemory, InstanceMemory, LocalLedger, OutOfMemory
from tests.support import examples

CAPACITY = 100
GPUS = ["g0", "g1", "g2"]
OOM_RE = re.compile(r"^CUDA out of memory\. Tried to allocate \d+\.\d\d GiB\. GPU \d+ has a total capacity "
                    r"of \d+\.\d\d GiB of which \d+\.\d\d GiB is free\.$")


class Node(RuleBasedStateMachine):
    """Instances on a node's mock GPUs, against a model of what each should hold."""

    def __init__(self) -> None:
        super().__init__()
        self.ledger = LocalLedger(CAPACITY)
        self.inst: dict[str, InstanceMemory] = {}
        self.state: dict[str, str] = {}          # name -> awake | asleep | half (weights only)
        self.ooms = 0

    def _expected(self, name: str) -> int:
        m, s = self.inst[name], self.state[name]
        return {"awake": m.claim_bytes, "asleep": 0, "half": m.part_bytes("weights")}[s]

    @rule(name=st.sampled_from("abcdef"), gpus=st.lists(st.sampled_from(GPUS), min_size=1, max_size=2, unique=True),
          claim=st.integers(1, 80), weights=st.integers(0, 80))
    def start(self, name: str, gpus: list[str], claim: int, weights: int) -> None:
        if name in self.inst:
            return
        m = InstanceMemory(self.ledger, name, gpus, claim, weights)
        try:
            m.start()
        except OutOfMemory as exc:
            assert OOM_RE.match(str(exc)), str(exc)
            self.ooms += 1
            return
        self.inst[name], self.state[name] = m, "awake"

    @precondition(lambda self: any(s != "asleep" for s in self.state.values()))
    @rule(data=st.data())
    def sleep(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(n for n, s in self.state.items() if s != "asleep")))
        self.inst[name].sleep()
        self.state[name] = "asleep"

    @precondition(lambda self: any(s != "awake" for s in self.state.values()))
    @rule(data=st.data())
    def wake(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(n for n, s in self.state.items() if s != "awake")))
        tag = "kv_cache" if self.state[name] == "half" else data.draw(st.sampled_from(["weights", "all"]))
        before = {g: self.ledger.mem.used(g) for g in GPUS if g in self.ledger.mem.capacity}
        try:
            for t in (["weights", "kv_cache"] if tag == "all" else [tag]):
                self.inst[name].wake(t)
                self.state[name] = "half" if t == "weights" else "awake"
        except OutOfMemory as exc:
            assert OOM_RE.match(str(exc)), str(exc)
            self.ooms += 1
            if tag != "all" or self.state[name] == "asleep":
                assert {g: self.ledger.mem.used(g) for g in before} == before  # all or nothing

    @precondition(lambda self: bool(self.inst))
    @rule(data=st.data())
    def stop(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(self.inst)))
        self.inst.pop(name).stop()
        self.state.pop(name)

    @invariant()
    def no_gpu_exceeds_its_bytes(self) -> None:
        for g, cap in self.ledger.mem.capacity.items():
            assert 0 <= self.ledger.mem.used(g) <= cap

    @invariant()
    def ledger_matches_what_each_instance_should_hold(self) -> None:
        for g in self.ledger.mem.capacity:
            want = sum(self._expected(n) for n, m in self.inst.items() if g in m.gpus)
            assert self.ledger.mem.used(g) == want


TestNodeMemory = Node.TestCase
TestNodeMemory.settings = settings(max_examples=examples(60), stateful_step_count=30, deadline=None)


@given(claims=st.lists(st.tuples(st.sampled_from("xyz"), st.integers(0, 150)), max_size=20))
def test_a_claim_that_does_not_fit_changes_nothing(claims: list[tuple[str, int]]) -> None:
    mem = GpuMemory(capacity={"g": CAPACITY})
    for owner, n in claims:
        before = dict(mem.claims.get(owner, {}))
        try:
            mem.claim(owner, ["g"], n)
        except OutOfMemory as exc:
            assert exc.wanted == n > exc.free
            assert mem.claims.get(owner, {}) == before
        assert mem.used("g") <= CAPACITY
