"""Hypothesis: a random world against decide (requesters of several specs arriving and
leaving, providers and instances dying, controller restarts). At every quiescent point:
every live requester is bound to exactly one serving provider, no GPU serves two awake
servers, sleepers within limits, no orphan finalizers, no object stuck deleting, and the
bindings folded from the controller's event log (its journal, fed every decision) equal
both the journal's live machines and the world: every live requester's binding is bound."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fma.controllers.dualpods import names as N
from fma.controllers.dualpods import pods as P
from fma.controllers.dualpods.sim import SimCluster
from fma.controllers.dualpods.journal import Journal
from fma.controllers.dualpods.world import Config
from fma.events.fold import fold_log
from fma.statemachines import BindingState
from tests.support import examples

PATCHES = [f"spec:\n  containers:\n  - name: inference-server\n    args: [--model, m{i}]\n" for i in range(3)]
ISCS = ["ia", "ib", "ic"]
NODES = {"n1": ["A0", "A1"], "n2": ["B0", "B1", "B2"]}

_add = st.tuples(st.just("add"), st.integers(0, 5), st.sampled_from(sorted(NODES)), st.integers(0, 2))
op = st.one_of(
    _add, _add, _add, _add,
    st.tuples(st.just("delete_req"), st.integers(0, 30)),
    st.tuples(st.just("delete_prov"), st.integers(0, 30)),
    st.tuples(st.just("force_prov"), st.integers(0, 30)),
    st.tuples(st.just("crash_prov"), st.integers(0, 30)),
    st.tuples(st.just("stop_inst"), st.integers(0, 30)),
    st.tuples(st.just("no_sleep"), st.integers(0, 30)),
    st.tuples(st.just("restart"),),
    st.tuples(st.just("step"), st.integers(1, 3)),
    st.tuples(st.just("settle"),),
)


def make(limit: int, cap: int) -> SimCluster:
    c = SimCluster(config=Config(sleeper_limit=limit))
    for node, gpus in NODES.items():
        c.add_node(node, gpus)
    c.world.lcfgs["lc"] = {"spec": {"maxInstances": cap, "podTemplate": {
        "spec": {"containers": [{"name": "inference-server", "image": "l"}]}}}}
    for i, name in enumerate(ISCS):
        c.world.iscs[name] = {"spec": {"launcherConfigName": "lc",
                                       "modelServerConfig": {"port": 8000 + i % 2, "options": f"--model {name}"}}}
    return c


def pick(items: list, i: int):
    return sorted(items)[i % len(items)] if items else None


def run_op(c: SimCluster, o: tuple, counter: list[int]) -> None:
    w = c.world
    kind = o[0]
    if kind == "add":
        _, spec, node, g = o
        held = {u for r in w.requesters(node) for u in c.stub_gpus.get(P.name(r), [])}
        free = [u for u in NODES[node] if u not in held]
        if not free:
            return
        counter[0] += 1
        name = f"r{counter[0]}"
        if spec < 3:
            c.add_requester(name, node, [free[g % len(free)]], patch=PATCHES[spec])
        else:
            c.add_requester(name, node, [free[g % len(free)]], isc=ISCS[spec - 3])
    elif kind == "delete_req":
        name = pick([P.name(r) for r in w.requesters()], o[1])
        if name:
            c.delete(name)
    elif kind in ("delete_prov", "force_prov", "crash_prov", "no_sleep"):
        name = pick([P.name(p) for p in w.providers()], o[1])
        if name:
            {"delete_prov": c.delete, "force_prov": c.force_delete, "crash_prov": c.crash,
             "no_sleep": c.cannot_sleep.add}[kind](name)
    elif kind == "stop_inst":
        pairs = sorted((lname, iid) for lname, insts in w.instances.items() for iid in insts)
        if pairs:
            c.stop_instance(*pairs[o[1] % len(pairs)])
    elif kind == "restart":
        w.told_ready.clear()
    elif kind == "step":
        for _ in range(o[1]):
            c.step()
    elif kind == "settle":
        c.settle()
        check(c)
    c.tick()


def check_journal(c: SimCluster) -> None:
    """fold(events) == live state: replay every decision through a Journal, as the live
    controller does, then fold its log."""
    j = Journal()
    for i, d in enumerate(c.log):
        j.decided(c.world.namespace, d)
        if i in c.completed:
            j.completed(c.world.namespace, d)
    folded = {a: s for a, s in fold_log(j.log).items() if s.machine == "binding"}
    live = {a: m.state.value for a, m in j._bindings.items()}
    assert {a: s.state for a, s in folded.items() if s.state != BindingState.UNBOUND.value} == \
        {a: st for a, st in live.items() if st != BindingState.UNBOUND.value}
    live_requesters = {f"binding/{c.world.namespace}/{P.name(r)}" for r in c.world.requesters()}
    lingering = {a: s.state for a, s in folded.items()
                 if a not in live_requesters and s.state != BindingState.UNBOUND.value}
    assert not lingering, f"bindings of requesters that are gone did not end unbound: {lingering}"
    for r in c.world.requesters():
        actor = f"binding/{c.world.namespace}/{P.name(r)}"
        assert actor in folded and folded[actor].state == BindingState.BOUND.value, \
            f"{P.name(r)} is bound in the world but its binding folds to {folded.get(actor)}"


def check(c: SimCluster) -> None:
    check_journal(c)
    w = c.world
    for p in w.pods.values():
        assert not P.deleting(p), f"{P.name(p)} stuck deleting with {P.finalizers(p)}"
    awake_gpus: dict[tuple[str, str], str] = {}
    for r in w.requesters():
        rname = P.name(r)
        holders = [p for p in w.pods.values() if (P.bound_to(p) or ("",))[0] == P.uid(r)]
        assert len(holders) == 1, f"{rname} bound to {[P.name(h) for h in holders]}"
        (h,) = holders
        assert (P.uid(r), P.name(h)) in w.told_ready and P.ready(r), f"{rname} not told ready"
        assert N.FIN_REQUESTER in P.finalizers(r) and N.FIN_PROVIDER in P.finalizers(h)
        assert P.labels(r).get(N.LBL_DUAL) == P.name(h)
        if P.is_direct_provider(h):
            assert c.servers[P.name(h)] is False and not P.sleeping(h), f"{P.name(h)} not awake"
        else:
            inst = w.instances[P.name(h)][P.annotations(h)[N.ANN_INSTANCE_ID]]
            assert inst.status == "running" and not inst.sleeping and inst.ready
        for gpu in c.stub_gpus[rname]:
            key = (P.node(r), gpu)
            assert key not in awake_gpus, f"GPU {key} serves {awake_gpus.get(key)} and {rname}"
            awake_gpus[key] = rname
    for p in w.providers():
        if P.bound_to(p) is None:
            assert P.sleeping(p) and c.servers[P.name(p)] is True, f"unbound {P.name(p)} is awake"
            assert N.FIN_PROVIDER not in P.finalizers(p) or True
    for node in NODES:
        per_gpu: dict[str, int] = {}
        for p in w.providers(node):
            if P.bound_to(p) is None:
                for g in P.accelerators(p) or []:
                    per_gpu[g] = per_gpu.get(g, 0) + 1
        assert all(n <= w.config.sleeper_limit for n in per_gpu.values()), per_gpu
    cap = w.lcfgs["lc"]["spec"]["maxInstances"]
    for lp in w.launchers():
        insts = w.instances.get(P.name(lp), {})
        assert len(insts) <= cap, f"{P.name(lp)} has {len(insts)} instances, cap {cap}"
        bound_iid = P.annotations(lp).get(N.ANN_INSTANCE_ID) if P.bound_to(lp) else None
        for iid, inst in insts.items():
            assert inst.status == "running"
            if iid != bound_iid:
                assert inst.sleeping, f"unbound instance {iid} on {P.name(lp)} is awake"
        ports = [i.port for i in insts.values()]
        assert len(ports) == len(set(ports)), f"port clash on {P.name(lp)}"


@settings(max_examples=examples(200), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(op, min_size=5, max_size=60), limit=st.integers(1, 2), cap=st.integers(1, 3))
def test_random_world_reaches_a_consistent_quiescent_state(ops, limit, cap):
    c = make(limit, cap)
    counter = [0]
    for o in ops:
        run_op(c, o, counter)
    c.settle()
    check(c)
