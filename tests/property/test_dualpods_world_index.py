"""Hypothesis: the indexed views of a frozen World (one pass over the pods) answer
exactly what the scanning views answer, in the same order, on random worlds reached by
the random operations of test_dualpods_world (requesters of both modes, providers and
launchers, deleting, crashed, bound and asleep)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fma.controllers.dualpods import names as N
from fma.controllers.dualpods import pods as P
from fma.controllers.dualpods.world import World
from tests.property.test_dualpods_world import make, op, run_op
from tests.support import examples


def views(w: World) -> dict:
    names = lambda ps: [P.name(p) for p in ps]  # noqa: E731
    nodes = sorted(w.all_nodes() | {"", "nowhere"})
    uids = sorted({P.uid(p) for p in w.pods.values()} | {"no-such-uid"})
    configs = sorted({P.labels(p).get(N.LBL_LAUNCHER_CONFIG, "") for p in w.pods.values()})
    return {
        "requesters": {n: names(w.requesters(n)) for n in nodes + [None]},
        "providers": {n: names(w.providers(n)) for n in nodes + [None]},
        "launchers": {(n, c): names(w.launchers(n, c)) for n in nodes + [None] for c in configs + [None]},
        "bound_to": {P.name(r): (w.bound_to(r) or {}).get("metadata", {}).get("name") for r in w.pods.values()},
        "by_uid": {u: (w.requester_by_uid(u) or {}).get("metadata", {}).get("name") for u in uids},
        "pairs": sorted((P.name(r), P.name(p)) for r, p in w.iter_bound_pairs()),
    }


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(op, min_size=5, max_size=40), limit=st.integers(1, 2), cap=st.integers(1, 3))
def test_frozen_world_views_equal_the_scanning_views(ops, limit, cap):
    c = make(limit, cap)
    counter = [0]
    for o in ops:
        run_op(c, o, counter)
        scanned = views(c.world)
        with c.world.frozen():
            indexed = views(c.world)
        assert indexed == scanned


def test_a_world_changed_after_its_frozen_block_is_seen_by_the_views():
    c = make(1, 1)
    c.add_requester("r1", "n1", ["A0"], patch="spec: {}\n")
    with c.world.frozen():
        assert [P.name(r) for r in c.world.requesters("n1")] == ["r1"]
    c.add_requester("r2", "n1", ["A1"], patch="spec: {}\n")
    assert [P.name(r) for r in c.world.requesters("n1")] == ["r1", "r2"]
    with c.world.frozen():
        assert [P.name(r) for r in c.world.requesters("n1")] == ["r1", "r2"]
