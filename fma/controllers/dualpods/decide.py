"""decide: a snapshot of the world -> decisions with effects (pure, no I/O, no clock).

The controller reconciles one node at a time (everything that competes for a node's
GPUs, sleepers and launchers is decided in one pass, so two requesters never take the
same sleeper). Requesters come first, oldest first; then provider housekeeping; then the
sleeper limits, which never touch what this pass already claimed.
"""

from __future__ import annotations

from typing import Any, Mapping

from fma.controllers.dualpods import names as N
from fma.controllers.dualpods import pods as P
from fma.controllers.dualpods.decision import Decision, error
from fma.controllers.dualpods.direct import Claims, decide_direct
from fma.controllers.dualpods.housekeeping import provider_decisions, sleeper_decisions
from fma.controllers.dualpods.launchermode import decide_launcher, launcher_decisions
from fma.controllers.dualpods.world import World


def decide_requester(world: World, r: Mapping[str, Any], claims: Claims | None = None) -> Decision:
    claims = claims if claims is not None else Claims()
    ann = P.annotations(r)
    if N.ANN_SERVER_PATCH in ann and N.ANN_ISC in ann and not P.deleting(r):
        return error(r, [f"{N.ANN_SERVER_PATCH} and {N.ANN_ISC} are exclusive; remove one"], "direct")
    if N.ANN_ISC in ann and not (N.ANN_SERVER_PATCH in ann and P.deleting(r)):
        return decide_launcher(world, r, claims)
    return decide_direct(world, r, claims)


def decide_node(world: World, node: str) -> list[Decision]:
    """Every decision for one node ("" = requesters not scheduled yet)."""
    claims = Claims()
    with world.frozen():  # decisions only read the world: index it once for the pass
        out = [decide_requester(world, r, claims) for r in world.requesters(node)]
        if node:
            out += provider_decisions(world, node, claims)
            out += launcher_decisions(world, node, claims)
            out += sleeper_decisions(world, node, claims)
    return out


def decide_all(world: World) -> list[Decision]:
    with world.frozen():
        nodes = sorted(world.all_nodes() | {""})
        return [d for n in nodes for d in decide_node(world, n)]
