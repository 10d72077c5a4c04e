"""Plan one node: for each of its (node, LauncherConfig) pairs, what to create, delete,
mark stuck and unmark. Pure: the world, the expectations and the clock are arguments.

Rules (BEHAVIOUR.md §6, FMA's populator):

* desired = max(policy count, launchers bound to requesters); a bound launcher (one with
  the ``requester`` annotation) is never deleted;
* unbound launchers made from an outdated template, or whose pod has ended, are deleted
  (and replaced): a template change rolls launchers as they become unbound;
* surplus: unbound launchers of the current template that hold no instances (their
  ``vllm-instance-signature`` is absent or the empty one), least useful first
  (unscheduled, then not Ready, then newest) — a launcher with sleepers, whoever made it,
  is kept for its hot starts;
* deficit: create ``desired - present - pending creates``; never while a delete on the
  same node is issued in this pass or still pending, so a node's freed room comes first;
* a missing or invalid LauncherConfig leaves its pairs untouched (``blocked``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

from fma.controllers.populator.expectations import Pending
from fma.controllers.populator.launchers import LauncherView
from fma.controllers.populator.stuck import Thresholds, judge
from fma.controllers.populator.template import LauncherConfigView

OUTDATED = "outdated"
ENDED = "ended"
SURPLUS = "surplus"


@dataclass
class PairPlan:
    node: str
    lc: str
    policy_count: int = 0
    desired: int = 0
    present: int = 0          # launchers in the cache, not being deleted by anyone
    bound: int = 0
    pending_creates: int = 0
    create: int = 0
    delete: list[tuple[LauncherView, str]] = field(default_factory=list)
    mark: list[tuple[LauncherView, str, str]] = field(default_factory=list)  # (view, reason, message)
    unmark: list[LauncherView] = field(default_factory=list)
    stuck: int = 0
    blocked: str | None = None
    held: bool = False        # creates held back by deletions on the node

    @property
    def key(self) -> tuple[str, str]:
        return (self.node, self.lc)

    @property
    def actual(self) -> int:
        """Launchers counted toward desired: present, not being deleted by this plan, plus pending creates."""
        return self.present - len(self.delete) + self.pending_creates

    @property
    def converged(self) -> bool:
        return (self.blocked is None and not self.delete and self.create == 0 and not self.held
                and self.pending_creates == 0 and self.actual == self.desired)


@dataclass
class NodePlan:
    node: str
    pairs: dict[str, PairPlan]
    recheck_at: float | None = None

    def actions(self) -> int:
        return sum(p.create + len(p.delete) + len(p.mark) + len(p.unmark) for p in self.pairs.values())


def _delete_order(v: LauncherView) -> tuple[int, int, float]:
    return (0 if v.scheduled_at is None else 1, 0 if not v.ready else 1, -v.created)


def plan_node(
    node: str,
    desired: Mapping[str, int],
    configs: Mapping[str, LauncherConfigView],
    launchers: Iterable[LauncherView],
    pending: Mapping[str, Pending],
    now: float,
    thresholds: Thresholds = Thresholds(),
) -> NodePlan:
    """``desired``: LauncherConfig -> policy count on this node; ``launchers``: this node's
    launcher pods; ``pending``: LauncherConfig -> expectations of that pair."""
    by_lc: dict[str, list[LauncherView]] = {}
    for v in launchers:
        by_lc.setdefault(v.lc, []).append(v)
    names = sorted(set(desired) | set(by_lc) | {lc for lc, p in pending.items() if not p.empty()})
    plans: dict[str, PairPlan] = {}
    recheck: list[float] = []
    node_deleting = any(not p.empty() and p.deletes for p in pending.values())
    for lc_name in names:
        pend = pending.get(lc_name) or Pending()
        views = by_lc.get(lc_name, [])
        plan = PairPlan(node, lc_name, policy_count=desired.get(lc_name, 0))
        plans[lc_name] = plan
        live = [v for v in views if not v.deleting and v.uid not in pend.deletes]
        seen = {v.name for v in views}
        plan.pending_creates = sum(1 for n in pend.creates if n not in seen)
        plan.present = len(live)
        plan.bound = sum(1 for v in live if v.bound)
        plan.desired = max(plan.policy_count, plan.bound)
        lc = configs.get(lc_name)
        if lc is None:
            plan.blocked = f"LauncherConfig {lc_name} not found"
        elif not lc.ok:
            plan.blocked = f"LauncherConfig {lc_name} is invalid: " + "; ".join(lc.errors)
        keep = live
        if plan.blocked is None:
            for v in live:
                if v.bound:
                    continue
                if v.failed:
                    plan.delete.append((v, ENDED))
                elif v.template_hash != lc.template_hash:  # type: ignore[union-attr]
                    plan.delete.append((v, OUTDATED))
            doomed = {v.uid for v, _ in plan.delete}
            keep = [v for v in live if v.uid not in doomed]
            surplus = len(keep) + plan.pending_creates - plan.desired
            if surplus > 0:
                # a launcher holding instances (sleepers: the next hot start) is no surplus
                spare = sorted((v for v in keep if not v.bound and not v.holds_instances), key=_delete_order)
                for v in spare[:surplus]:
                    plan.delete.append((v, SURPLUS))
                doomed = {v.uid for v, _ in plan.delete}
                keep = [v for v in live if v.uid not in doomed]
            plan.create = max(plan.desired - len(keep) - plan.pending_creates, 0)
            if plan.delete:
                node_deleting = True
        for v in keep:
            verdict = judge(v, now, thresholds)
            if verdict.reason is not None:
                plan.stuck += 1
                if not v.stuck_label:
                    plan.mark.append((v, verdict.reason, verdict.message))
            else:
                if v.stuck_label:
                    plan.unmark.append(v)
                if verdict.recheck_at is not None:
                    recheck.append(verdict.recheck_at)
    if node_deleting:
        for plan in plans.values():
            if plan.create:
                plan.create, plan.held = 0, True
    return NodePlan(node, plans, min(recheck) if recheck else None)
