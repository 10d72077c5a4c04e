"""Prometheus metrics of one launcher (own registry, so several launchers can share a process).

* ``fma_launcher_instances{state}`` — instances by lifecycle state (read at scrape time);
* ``fma_launcher_start_seconds``, ``fma_launcher_sleep_seconds``, ``fma_launcher_wake_seconds``
  — histograms, from the command's record to the observation that completed it;
* ``fma_launcher_gpu_bytes_used{gpu}`` / ``fma_launcher_gpu_bytes_total{gpu}`` and
  ``fma_launcher_host_bytes_used`` — the byte budget;
* ``fma_launcher_watch_revision``.
"""

from __future__ import annotations

from typing import Any, Iterator

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from fma.statemachines import InstanceState

BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600)


class _NodeCollector:
    def __init__(self, node: Any) -> None:
        self.node = node

    def collect(self) -> Iterator[GaugeMetricFamily]:
        node = self.node
        with node.lock:
            states = [i.state.value for i in node.instances.values()]
            holdings = node.holdings()
            revision = node.revision
        g = GaugeMetricFamily("fma_launcher_instances", "Instances by lifecycle state", labels=["state"])
        for st in InstanceState:
            g.add_metric([st.value], states.count(st.value))
        yield g
        used = node.budget.gpu_used(holdings)
        gu = GaugeMetricFamily("fma_launcher_gpu_bytes_used", "GPU bytes held by instances", labels=["gpu"])
        gt = GaugeMetricFamily("fma_launcher_gpu_bytes_total", "GPU memory", labels=["gpu"])
        for uuid, gpu in node.budget.gpus.items():
            gu.add_metric([uuid], used.get(uuid, 0))
            gt.add_metric([uuid], gpu.total_bytes)
        yield gu
        yield gt
        yield GaugeMetricFamily("fma_launcher_host_bytes_used", "Host RAM held by sleepers",
                                value=node.budget.host_used(holdings))
        yield GaugeMetricFamily("fma_launcher_watch_revision", "Last watch revision", value=revision)


class LauncherMetrics:
    def __init__(self, node: Any) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_NodeCollector(node))  # type: ignore[arg-type]
        self.start = Histogram("fma_launcher_start_seconds", "Instance start to ready", buckets=BUCKETS,
                               registry=self.registry)
        self.sleep = Histogram("fma_launcher_sleep_seconds", "Sleep command to confirmed asleep",
                               buckets=BUCKETS, registry=self.registry)
        self.wake = Histogram("fma_launcher_wake_seconds", "Wake command to confirmed awake",
                              buckets=BUCKETS, registry=self.registry)
        self._began: dict[str, float] = {}
        node.add_listener(self._on_transition)

    def _on_transition(self, trigger: str, inst: Any, record: Any) -> None:
        if record is None:
            return
        key = inst.actor
        if trigger in ("start", "sleep", "wake"):
            self._began[key] = record.ts
            return
        began = self._began.pop(key, None) if trigger in ("ready", "slept", "woke", "swap_failed") else None
        if began is None:
            return
        hist = {"ready": self.start, "slept": self.sleep, "woke": self.wake}.get(trigger)
        if hist is not None:
            hist.observe(max(0.0, record.ts - began))

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
