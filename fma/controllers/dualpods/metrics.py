"""Prometheus metrics of the dual-pods controller (served on --metrics-port, default 8002)."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

from fma.controllers.dualpods.decision import Decision


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.bindings = Counter("fma_dualpods_bindings_total", "bindings made, by start kind",
                                ["kind"], registry=self.registry)
        self.decisions = Counter("fma_dualpods_decisions_total", "decisions that acted, by kind",
                                 ["kind"], registry=self.registry)
        self.errors = Counter("fma_dualpods_errors_total", "failed effects and requester errors, by reason",
                              ["reason"], registry=self.registry)
        self.ready_seconds = Histogram("fma_dualpods_time_to_ready_seconds",
                                       "first decision about a requester to become-ready sent",
                                       buckets=(.01, .025, .05, .1, .2, .5, 1, 2, 5, 10, 30, 60, 120, 300),
                                       registry=self.registry)
        self._first_seen: dict[str, float] = {}

    def decided(self, d: Decision) -> None:
        if not d.effects:
            self._first_seen.setdefault(d.subject, time.monotonic())
            return
        self.decisions.labels(d.kind).inc()
        self._first_seen.setdefault(d.subject, time.monotonic())
        if d.kind in ("hot", "warm", "evict", "cold"):
            self.bindings.labels(d.kind).inc()
        if d.kind == "error":
            self.errors.labels("requester_config").inc()
        if d.kind == "serving" and any(type(e).__name__ == "BecomeReady" for e in d.effects):
            t0 = self._first_seen.pop(d.subject, None)
            if t0 is not None:
                self.ready_seconds.observe(time.monotonic() - t0)

    def failed(self, effect: str) -> None:
        self.errors.labels(f"effect_{effect}").inc()

    def serve(self, port: int, addr: str = "0.0.0.0") -> Any:
        return start_http_server(port, addr=addr, registry=self.registry)
