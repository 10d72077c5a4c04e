"""Prometheus metrics of the populator: desired vs actual per pair, stuck launchers."""

from __future__ import annotations

from typing import Mapping

from fma.controllers.populator.plan import NodePlan


class PopulatorMetrics:
    def __init__(self, registry: object | None = None) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge

        self.registry = registry if registry is not None else CollectorRegistry()
        labels = ("node", "launcher_config")
        self.desired = Gauge("fma_populator_desired_launchers", "Launchers wanted per (node, LauncherConfig)",
                             labels, registry=self.registry)
        self.actual = Gauge("fma_populator_actual_launchers",
                            "Launchers present or being created per (node, LauncherConfig)", labels,
                            registry=self.registry)
        self.stuck = Gauge("fma_populator_stuck_launchers", "Launchers judged stuck per (node, LauncherConfig)",
                           labels, registry=self.registry)
        self.blocked = Gauge("fma_populator_blocked_pairs",
                             "1 while a pair's LauncherConfig is missing or invalid", labels, registry=self.registry)
        self.created = Counter("fma_populator_launchers_created", "Launcher pods created", registry=self.registry)
        self.deleted = Counter("fma_populator_launchers_deleted", "Launcher pods deleted", ("reason",),
                               registry=self.registry)
        self._seen: set[tuple[str, str]] = set()

    def observe(self, plans: Mapping[str, NodePlan], fresh: list[NodePlan] | None = None) -> None:
        """Gauges from the latest plan of every node; counters from the plans carried out now."""
        for plan in fresh or []:
            for pair in plan.pairs.values():
                self.created.inc(pair.create)
                for _, reason in pair.delete:
                    self.deleted.labels(reason).inc()
        now: set[tuple[str, str]] = set()
        for plan in plans.values():
            for pair in plan.pairs.values():
                key = (pair.node, pair.lc)
                now.add(key)
                self.desired.labels(*key).set(pair.desired)
                self.actual.labels(*key).set(pair.actual + pair.create)
                self.stuck.labels(*key).set(pair.stuck)
                self.blocked.labels(*key).set(1 if pair.blocked else 0)
        for key in self._seen - now:
            for g in (self.desired, self.actual, self.stuck, self.blocked):
                try:
                    g.remove(*key)
                except KeyError:
                    pass
        self._seen = now
