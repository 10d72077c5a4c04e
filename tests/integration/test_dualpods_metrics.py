"""The dual-pods controller's /metrics, scraped over HTTP from the server `--metrics-port`
starts (Metrics.serve), while a live controller (in-memory API, real requester stubs and
simulated vLLM servers, see test_dualpods_live) goes through a cold start, a hot start
and a requester error; a warm start (launcher mode) is fed from the what-if simulator's
decisions into the same registry. Each family: bindings by kind, time from requester
creation to become-ready, sleepers per GPU, errors by reason."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from fma.controllers.dualpods import pods as P
from fma.controllers.dualpods.controller import DualPodsController
from fma.controllers.dualpods.metrics import Metrics
from fma.controllers.dualpods.sim import SimCluster
from fma.controllers.dualpods.world import Config
from tests.integration.test_dualpods_live import Rig


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    text = httpx.get(url, trust_env=False, timeout=5).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def _warm_decisions() -> list:
    c = SimCluster(config=Config())
    c.add_node("n1", ["G0"])
    c.world.lcfgs["lc"] = {"spec": {"maxInstances": 2, "podTemplate": {
        "spec": {"containers": [{"name": "inference-server", "image": "l"}]}}}}
    for name, port in (("ia", 8000), ("ib", 8001)):
        c.world.iscs[name] = {"spec": {"launcherConfigName": "lc",
                                       "modelServerConfig": {"port": port, "options": f"--model {name}"}}}
    c.add_requester("r1", "n1", ["G0"], isc="ia")
    c.settle()  # cold: a new launcher
    c.delete("r1")
    c.settle()
    c.add_requester("r2", "n1", ["G0"], isc="ib")
    c.settle()  # warm: the launcher has room for a second instance
    return c.log


@pytest.mark.timeout(60)
def test_metrics_port_serves_bindings_time_to_ready_sleepers_and_errors() -> None:
    rig = Rig()
    metrics = Metrics()
    server = metrics.serve(0, addr="127.0.0.1")
    url = f"http://127.0.0.1:{server.server_address[1]}/metrics"
    rig.ctl.stop()
    rig.ctl = DualPodsController(rig.kube, rig.config, metrics=metrics).start()
    try:
        rig.add_requester("r1")
        rig.wait(lambda: rig.ready("r1"))
        pname = P.name(rig.provider_of("r1"))
        s = scrape(url)
        assert value(s, "fma_dualpods_bindings_total", kind="cold") == 1
        assert value(s, "fma_dualpods_time_to_ready_seconds_count") == 1
        assert value(s, "fma_dualpods_sleepers", node="n1", gpu="GPU-n1-0") == 0

        rig.kube.delete("pods", "r1")
        rig.wait(lambda: rig.kube.get("pods", "r1") is None)
        rig.wait(lambda: value(scrape(url), "fma_dualpods_sleepers", node="n1", gpu="GPU-n1-0") == 1)

        rig.add_requester("r2")
        rig.wait(lambda: rig.ready("r2"))
        assert P.name(rig.provider_of("r2")) == pname
        rig.add_requester("r3", patch="spec: [")
        rig.wait(lambda: value(scrape(url), "fma_dualpods_errors_total", reason="requester_config") >= 1)
        assert rig.ctl.wait_idle(10)
        s = scrape(url)
        assert value(s, "fma_dualpods_bindings_total", kind="hot") == 1
        assert value(s, "fma_dualpods_bindings_total", kind="cold") == 1
        assert value(s, "fma_dualpods_time_to_ready_seconds_count") == 2
        # creationTimestamp has one-second resolution: each start took under two seconds here
        assert value(s, "fma_dualpods_time_to_ready_seconds_bucket", le="2.0") == 2
        assert value(s, "fma_dualpods_sleepers", node="n1", gpu="GPU-n1-0") == 0  # woken again

        for d in _warm_decisions():
            metrics.decided(d)
        s = scrape(url)
        assert value(s, "fma_dualpods_bindings_total", kind="warm") == 1
        assert value(s, "fma_dualpods_bindings_total", kind="cold") == 2
    finally:
        rig.close()
        server.shutdown()
        server.server_close()
