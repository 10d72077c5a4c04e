"""Prometheus metrics of the dual-pods controller (served on --metrics-port, default 8002).

* ``fma_dualpods_bindings_total{kind}`` — bindings made, by start kind (hot, warm, evict, cold).
* ``fma_dualpods_decisions_total{kind}`` — decisions that acted, by kind.
* ``fma_dualpods_errors_total{reason}`` — ``requester_config`` (a requester's patch or ISC
  unusable) and ``effect_<Effect>`` (an effect that failed and is retried).
* ``fma_dualpods_time_to_ready_seconds`` — histogram: requester creation (its
  ``creationTimestamp``, one-second resolution) to the controller telling it become-ready.
* ``fma_dualpods_sleepers{node,gpu}`` — sleepers per GPU (direct providers and launcher
  instances: what ``--sleeper-limit`` caps).
"""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from typing import Any, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from fma.controllers.dualpods.decision import Decision


def _created(ts: str) -> float | None:
    try:
        return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        return None


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
                                       "requester creation to become-ready sent",
                                       buckets=(.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200),
                                       registry=self.registry)
        self.sleepers = Gauge("fma_dualpods_sleepers", "sleepers per GPU (providers and launcher instances)",
                              ["node", "gpu"], registry=self.registry)
        self._lock = threading.Lock()
        self._gpus: dict[str, set[str]] = {}  # node -> GPUs with a sleepers sample

    def decided(self, d: Decision) -> None:
        if not d.effects:
            return
        self.decisions.labels(d.kind).inc()
        if d.kind in ("hot", "warm", "evict", "cold"):
            self.bindings.labels(d.kind).inc()
        if d.kind == "error":
            self.errors.labels("requester_config").inc()

    def became_ready(self, created_ts: str, now: float) -> None:
        """The requester created at ``created_ts`` was told become-ready for the first time."""
        t0 = _created(created_ts)
        if t0 is not None:
            self.ready_seconds.observe(max(0.0, now - t0))

    def sleepers_on(self, node: str, per_gpu: Mapping[str, int]) -> None:
        """The node's sleepers per GPU now; GPUs no longer listed drop to 0."""
        with self._lock:
            for gpu in self._gpus.get(node, set()) - set(per_gpu):
                self.sleepers.labels(node, gpu).set(0)
            for gpu, n in per_gpu.items():
                self.sleepers.labels(node, gpu).set(n)
            self._gpus[node] = self._gpus.get(node, set()) | set(per_gpu)

    def failed(self, effect: str) -> None:
        self.errors.labels(f"effect_{effect}").inc()

    def serve(self, port: int, addr: str = "0.0.0.0") -> Any:
        """Serve /metrics; returns the HTTP server (``server_address[1]`` is the port, also for 0)."""
        out = start_http_server(port, addr=addr, registry=self.registry)
        return out[0] if isinstance(out, tuple) else out
