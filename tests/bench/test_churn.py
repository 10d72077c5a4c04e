"""Churn at 1000 requesters over 100 nodes x 8 GPUs through the live controller: every
requester life is bound. The cost per binding at 1000 vs 100 is printed, never asserted."""

from __future__ import annotations

import argparse

import pytest

from fma.bench import churn


def _args(**kw: object) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    churn.add_arguments(p)
    return p.parse_args([f"--{k.replace('_', '-')}={v}" for k, v in kw.items()])


@pytest.mark.bench
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_churn_at_1000_requesters_binds_every_one():
    # one life per requester (--quick) keeps this test near half a minute; `fma bench churn`
    # runs two (cold, then hot) at both sizes
    out = churn.figures(_args(sizes="100,1000", rounds=1))
    small, big = out["runs"]
    for r in (small, big):
        print(f"\n{r['requesters']} requesters: {r['bindings']}/{r['expected']} bound ({r['hot']} hot, "
              f"{r['cold']} cold) in {r['wall_s']} s; {r['wall_ms_per_binding']} ms wall and "
              f"{r['cpu_ms_per_binding']['controller']} ms controller CPU per binding")
    print(f"cost per binding 1000 / 100: wall {out.get('ratio_wall_per_binding')}x, controller CPU "
          f"{out.get('ratio_controller_cpu_per_binding')}x (goal <= {churn.GOAL_RATIO}x)")
    assert big["complete"], big["errors"]
    assert big["bindings"] == 1000
    assert big["hot"] >= 1  # identities sharing a GPU slot come back to a sleeper of their model
    assert small["complete"], small["errors"]
