"""The live dual-pods controller (direct mode) against the in-memory API server, with the
test playing scheduler and kubelet: requester stubs and simulated vLLM servers really run,
each on its own 127.x.y.z "pod IP", and the controller talks HTTP to them."""

from __future__ import annotations

import random
import threading
import time

import httpx
import pytest

from fma.controllers.dualpods import names as N
from fma.controllers.dualpods import pods as P
from fma.controllers.dualpods.controller import DualPodsController
from fma.controllers.dualpods.memkube import MemoryKube
from fma.controllers.dualpods.world import Config
from fma.engines.sim.inprocess import InProcessSim
from fma.engines.sim.model import SimParams
from fma.engines.sim.server import SimConfig
from fma.requester.server import RequesterServer, RequesterState

GPUS = {"n1": ["GPU-n1-0", "GPU-n1-1", "GPU-n1-2"]}


def patch_for(model: str) -> str:
    return f"""
spec:
  containers:
  - name: inference-server
    image: vllm/vllm-openai
    args: ["--model", "{model}"]
    ports: [{{containerPort: 8000}}]
"""


class Kubelet:
    """Starts the servers of pods bound to a node, reports IP and readiness, stops them on deletion."""

    def __init__(self, kube: MemoryKube) -> None:
        self.kube = kube
        self.net = random.randint(20, 250)
        self.n = 0
        self.servers: dict[str, object] = {}
        self.gpus: dict[str, list[str]] = {}
        self.sims: dict[str, InProcessSim] = {}
        self.lock = threading.Lock()
        self.stop_ev = threading.Event()
        self.prober = threading.Thread(target=self._probe, daemon=True)
        kube.watch(self.on_event)
        self.prober.start()

    def ip(self) -> str:
        self.n += 1
        return f"127.{self.net}.{self.n // 250}.{self.n % 250 + 1}"

    def on_event(self, kind: str, type_: str, pod: dict) -> None:
        if kind != "pods":
            return
        name = P.name(pod)
        with self.lock:
            if type_ == "DELETED" or P.deleting(pod):
                self._kill(name)
                return
            if name in self.servers or not P.node(pod) or P.pod_ip(pod):
                return
            ip = self.ip()
            if P.is_requester(pod):
                st = RequesterState(gpus=tuple(self.gpus.get(name, [])), name=name)
                self.servers[name] = RequesterServer(st, ip, 8081, 8080, 8082).start()
                self.kube.set_pod_status(name, False, ip)
            elif P.is_direct_provider(pod):
                gpus = tuple(P.accelerators(pod) or ())
                cfg = SimConfig(params=SimParams(time_scale=1000.0, weight_bytes=10**9), model="m",
                                served_names=("m",), port=P.server_port(pod), host=ip, gpus=gpus)
                self.servers[name] = sim = InProcessSim(cfg)
                self.sims[name] = sim
                threading.Thread(target=self._start_sim, args=(name, sim, ip), daemon=True).start()

    def _start_sim(self, name: str, sim: InProcessSim, ip: str) -> None:
        sim.start()
        self.kube.set_pod_status(name, False, ip)
        with httpx.Client(trust_env=False) as c:
            for _ in range(500):
                try:
                    if c.get(sim.url + "/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.01)
        try:
            self.kube.set_pod_status(name, True, ip)
        except Exception:
            pass

    def _probe(self) -> None:
        """The requester's readiness probe: GET /ready, as a kubelet would."""
        with httpx.Client(trust_env=False, timeout=1) as c:
            while not self.stop_ev.wait(0.01):
                with self.lock:
                    reqs = [(n, s) for n, s in self.servers.items() if isinstance(s, RequesterServer)]
                for name, srv in reqs:
                    pod = self.kube.get("pods", name)
                    if pod is None or P.deleting(pod):
                        continue
                    try:
                        ok = c.get(srv.url("probe") + "/ready").status_code == 200
                    except httpx.HTTPError:
                        continue
                    if ok != P.ready(pod):
                        try:
                            self.kube.set_pod_status(name, ok, P.pod_ip(pod))
                        except Exception:
                            pass

    def _kill(self, name: str) -> None:
        srv = self.servers.pop(name, None)
        if srv is not None:
            srv.stop()

    def close(self) -> None:
        self.stop_ev.set()
        self.prober.join(5)
        with self.lock:
            for name in list(self.servers):
                self._kill(name)


class Rig:
    def __init__(self, **cfg) -> None:
        self.kube = MemoryKube("ns")
        self.kube.create("configmaps", {"metadata": {"name": N.GPU_MAP}, "data": {
            n: __import__("json").dumps({u: i for i, u in enumerate(g)}) for n, g in GPUS.items()}})
        self.kubelet = Kubelet(self.kube)
        self.config = Config(**cfg)
        self.ctl = DualPodsController(self.kube, self.config).start()

    def restart(self) -> None:
        self.ctl.stop()
        self.ctl = DualPodsController(self.kube, self.config).start()

    def add_requester(self, name: str, model: str = "m1", gpus: tuple[str, ...] = ("GPU-n1-0",),
                      patch: str | None = None) -> dict:
        self.kubelet.gpus[name] = list(gpus)
        return self.kube.create("pods", {
            "metadata": {"name": name, "labels": {"app": "r"},
                         "annotations": {N.ANN_SERVER_PATCH: patch if patch is not None else patch_for(model)}},
            "spec": {"nodeName": "n1", "containers": [{"name": "inference-server", "image": "stub",
                                                       "resources": {"limits": {N.GPU_RESOURCE: "1"}}}]}})

    def wait(self, what, timeout: float = 20.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            got = what()
            if got:
                return got
            time.sleep(0.01)
        raise AssertionError(f"timed out waiting; pods: {[(P.name(p), P.labels(p)) for p in self.kube.list('pods')]}")

    def provider_of(self, rname: str) -> dict | None:
        r = self.kube.get("pods", rname)
        if r is None:
            return None
        for p in self.kube.list("pods"):
            if (P.bound_to(p) or ("",))[0] == P.uid(r):
                return p
        return None

    def ready(self, rname: str) -> bool:
        r = self.kube.get("pods", rname)
        return r is not None and P.ready(r)

    def close(self) -> None:
        self.ctl.stop()
        self.kube.stop()
        self.kubelet.close()


@pytest.fixture
def rig():
    r = Rig()
    yield r
    r.close()


def test_pair_created_and_requester_turns_ready(rig):
    rig.add_requester("r1")
    rig.wait(lambda: rig.ready("r1"))
    prov = rig.provider_of("r1")
    assert P.name(prov).startswith("r1-dual-") and P.ready(prov)
    assert P.labels(rig.kube.get("pods", "r1"))[N.LBL_DUAL] == P.name(prov)


def test_completion_flows_through_the_requester_proxy(rig):
    rig.add_requester("r1")
    rig.wait(lambda: rig.ready("r1"))
    srv = rig.kubelet.servers["r1"]
    r = httpx.post(srv.url("proxy") + "/v1/completions", json={"model": "m", "prompt": "hi", "max_tokens": 3},
                   trust_env=False, timeout=10)
    assert r.status_code == 200 and r.json()["choices"][0]["text"]


def test_requester_deleted_provider_sleeps_and_replacement_is_hot(rig):
    rig.add_requester("r1")
    rig.wait(lambda: rig.ready("r1"))
    pname = P.name(rig.provider_of("r1"))
    rig.kube.delete("pods", "r1")
    rig.wait(lambda: rig.kube.get("pods", "r1") is None)
    prov = rig.kube.get("pods", pname)
    assert P.labels(prov)[N.LBL_SLEEPING] == "true" and P.bound_to(prov) is None
    with httpx.Client(trust_env=False) as c:
        assert c.get(rig.kubelet.sims[pname].url + "/is_sleeping").json()["is_sleeping"] is True
    creates = sum(1 for v, _ in rig.kube.calls if v == "create")
    rig.add_requester("r2")
    rig.wait(lambda: rig.ready("r2"))
    assert P.name(rig.provider_of("r2")) == pname
    assert sum(1 for v, _ in rig.kube.calls if v == "create") == creates  # hot: nothing created
    with httpx.Client(trust_env=False) as c:
        assert c.get(rig.kubelet.sims[pname].url + "/is_sleeping").json()["is_sleeping"] is False
    kinds = [r.data.get("kind") for r in rig.ctl.journal.log.read() if r.actor.endswith("/r2")]
    assert "hot" in kinds


def test_provider_deleted_deletes_requester(rig):
    rig.add_requester("r1")
    rig.wait(lambda: rig.ready("r1"))
    pname = P.name(rig.provider_of("r1"))
    rig.kube.delete("pods", pname)
    rig.wait(lambda: rig.kube.get("pods", "r1") is None and rig.kube.get("pods", pname) is None)


def test_sleeper_limit_two_deletes_the_lru_sleeper():
    rig = Rig(sleeper_limit=2)
    try:
        names = []
        for i, model in enumerate(["m1", "m2", "m3"]):
            rig.add_requester(f"r{i}", model)
            rig.wait(lambda: rig.ready(f"r{i}"))
            names.append(P.name(rig.provider_of(f"r{i}")))
            rig.kube.delete("pods", f"r{i}")
            rig.wait(lambda: rig.kube.get("pods", f"r{i}") is None)
        rig.wait(lambda: rig.kube.get("pods", names[0]) is None)
        assert rig.kube.get("pods", names[1]) is not None and rig.kube.get("pods", names[2]) is not None
    finally:
        rig.close()


def test_controller_restart_changes_nothing(rig):
    rig.add_requester("r1")
    rig.add_requester("r2", "m2", ("GPU-n1-1",))
    rig.wait(lambda: rig.ready("r1") and rig.ready("r2"))
    rig.kube.delete("pods", "r2")
    rig.wait(lambda: rig.kube.get("pods", "r2") is None)
    assert rig.ctl.wait_idle(10)
    before = {P.name(p): p["metadata"]["resourceVersion"] for p in rig.kube.list("pods")}
    n_calls = len(rig.kube.calls)
    rig.restart()
    assert rig.ctl.wait_idle(10)
    after = {P.name(p): p["metadata"]["resourceVersion"] for p in rig.kube.list("pods")}
    assert after == before and rig.kube.calls[n_calls:] == []


def test_bad_patch_goes_to_status_annotation_and_creates_nothing(rig):
    rig.add_requester("r1", patch="spec: [")
    rig.wait(lambda: N.ANN_STATUS in P.annotations(rig.kube.get("pods", "r1")))
    assert "not valid YAML" in P.annotations(rig.kube.get("pods", "r1"))[N.ANN_STATUS]
    assert not any(v == "create" for v, _ in rig.kube.calls)


def test_host_memory_byte_budget_deletes_the_lru_sleeper_on_the_node_beyond_fma():
    rig = Rig(sleeper_limit=10, host_memory_budget=250)
    try:
        names = []
        for i, model in enumerate(["m1", "m2", "m3"]):
            patch = patch_for(model).replace("spec:", f"metadata:\n  annotations: {{{N.ANN_SLEEPER_BYTES}: '100'}}\nspec:", 1)
            rig.add_requester(f"r{i}", model, (f"GPU-n1-{i}",), patch=patch)
            rig.wait(lambda: rig.ready(f"r{i}"))
            names.append(P.name(rig.provider_of(f"r{i}")))
            rig.kube.delete("pods", f"r{i}")
            rig.wait(lambda: rig.kube.get("pods", f"r{i}") is None)
        # three sleepers of 100 B each on one node, budget 250 B: the least recently used goes
        rig.wait(lambda: rig.kube.get("pods", names[0]) is None)
        assert all(P.sleeping(rig.kube.get("pods", n)) for n in names[1:])
    finally:
        rig.close()
