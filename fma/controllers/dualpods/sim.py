"""An in-memory cluster that carries out effects on a :class:`World` — the API server,
kubelet, vLLM servers, requester stubs and launchers in one object, instantly.

For tests of :mod:`decide` (unit and property) and for quick what-if runs: it plays
what the live executor does, including its fallbacks (a server that cannot sleep is
deleted), so ``settle()`` reaches the same quiescent state the real controller would.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field, replace
from typing import Any

from fma.controllers.dualpods import effects as E
from fma.controllers.dualpods import names as N
from fma.controllers.dualpods import pods as P
from fma.controllers.dualpods.decide import decide_all
from fma.controllers.dualpods.decision import Decision
from fma.controllers.dualpods.world import Config, InstanceView, World


class Conflict(Exception):
    """A patch whose ``expect`` did not hold (the API server would answer 422/409)."""


@dataclass
class SimCluster:
    config: Config = field(default_factory=Config)
    world: World = field(init=False)
    stub_gpus: dict[str, list[str]] = field(default_factory=dict)
    servers: dict[str, bool] = field(default_factory=dict)  # provider name -> sleeping
    cannot_sleep: set[str] = field(default_factory=set)
    gpu_used_mib: dict[str, int] = field(default_factory=dict)  # what a stub reports per GPU (default 0)
    events: list[tuple[str, str, str, str]] = field(default_factory=list)  # (pod, type, reason, message)
    auto_ready: bool = True  # kubelet marks new pods Ready with an IP at once
    log: list[Decision] = field(default_factory=list)
    completed: set[int] = field(default_factory=set)  # indexes into log whose effects all succeeded
    _n: itertools.count = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.world = World(config=self.config, gpu_map={})

    # ---- the user's and the scheduler's side ------------------------------------------
    def tick(self, dt: float = 1.0) -> None:
        self.world.now += dt

    def add_node(self, node: str, gpus: list[str]) -> None:
        assert self.world.gpu_map is not None
        self.world.gpu_map[node] = {u: i for i, u in enumerate(gpus)}

    def add_requester(self, name: str, node: str, gpus: list[str], patch: str | None = None,
                      isc: str | None = None, ip: bool = True) -> dict[str, Any]:
        ann = {}
        if patch is not None:
            ann[N.ANN_SERVER_PATCH] = patch
        if isc is not None:
            ann[N.ANN_ISC] = isc
        pod = {"metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}-{next(self._n)}",
                            "labels": {"app": "req"}, "annotations": ann,
                            "creationTimestamp": f"{self.world.now:012.3f}"},
               "spec": {"nodeName": node, "containers": [
                   {"name": N.SERVER_CONTAINER, "image": "stub",
                    "resources": {"limits": {N.GPU_RESOURCE: str(len(gpus))}}}]},
               "status": {"podIP": f"10.0.0.{next(self._n)}" if ip else ""}}
        self.world.pods[name] = pod
        self.stub_gpus[name] = list(gpus)
        return pod

    def delete(self, name: str) -> None:
        pod = self.world.pods.get(name)
        if pod is None:
            return
        if P.finalizers(pod):
            pod["metadata"]["deletionTimestamp"] = f"{self.world.now}"
        else:
            del self.world.pods[name]
            self.servers.pop(name, None)
            self.world.instances.pop(name, None)

    def force_delete(self, name: str) -> None:
        self.world.pods.pop(name, None)
        self.servers.pop(name, None)
        self.world.instances.pop(name, None)

    def crash(self, name: str) -> None:
        """The pod's server process died (container failed)."""
        pod = self.world.pods[name]
        pod["status"]["phase"] = "Failed"
        pod["status"]["conditions"] = [{"type": "Ready", "status": "False"}]

    def stop_instance(self, launcher: str, iid: str) -> None:
        insts = self.world.instances.get(launcher, {})
        if iid in insts:
            insts[iid] = replace(insts[iid], status="stopped", ready=False)

    # ---- the controller's loop ---------------------------------------------------------
    def step(self) -> int:
        """One pass: decide everything, carry every effect out; returns effects done."""
        done = 0
        for d in decide_all(self.world):
            self.log.append(d)
            for eff in d.effects:
                try:
                    self.apply(eff)
                except Conflict:
                    break
                done += 1
            else:
                self.completed.add(len(self.log) - 1)
        return done

    def settle(self, rounds: int = 50) -> int:
        for i in range(rounds):
            if self.step() == 0:
                return i
        raise AssertionError(f"no quiescence after {rounds} rounds; last: "
                             f"{[d.summary() for d in self.log[-5:]]}")

    # ---- effects -------------------------------------------------------------------
    def apply(self, eff: Any) -> None:
        w = self.world
        if isinstance(eff, E.PatchMeta):
            self._patch(eff)
        elif isinstance(eff, E.CreatePod):
            pod = copy.deepcopy(dict(eff.pod))
            name = pod["metadata"]["generateName"] + f"{next(self._n):05d}"
            pod["metadata"].update(name=name, uid=f"uid-{name}", creationTimestamp=f"{w.now:012.3f}")
            pod["status"] = {}
            if self.auto_ready:
                pod["status"] = {"podIP": f"10.1.0.{next(self._n)}",
                                 "conditions": [{"type": "Ready", "status": "True"}]}
            w.pods[name] = pod
            if P.is_direct_provider(pod):
                self.servers[name] = False
        elif isinstance(eff, E.DeletePod):
            self.delete(eff.pod)
        elif isinstance(eff, E.SetStatus):
            import json
            value = json.dumps({"Errors": list(eff.errors)}) if eff.errors else None
            self._patch(E.PatchMeta(eff.requester, annotations={N.ANN_STATUS: value}))
        elif isinstance(eff, E.QueryAccelerators):
            gpus = self.stub_gpus.get(eff.requester)
            if gpus:
                self._patch(E.PatchMeta(eff.requester, annotations={N.ANN_ACCELERATORS: ",".join(gpus)}))
        elif isinstance(eff, E.RecordEvent):
            self.events.append((eff.pod, eff.type_, eff.reason, eff.message))
        elif isinstance(eff, E.CheckAcceleratorMemory):
            busy = {g: self.gpu_used_mib.get(g, 0) for g in eff.gpus if self.gpu_used_mib.get(g, 0) > eff.limit_mib}
            if busy:
                raise Conflict(f"{eff.requester}: GPUs hold {busy} MiB, over {eff.limit_mib}")
        elif isinstance(eff, E.WakeProvider):
            self.servers[eff.provider] = False
            self._patch(E.PatchMeta(eff.provider, labels={N.LBL_SLEEPING: "false"}))
        elif isinstance(eff, E.SleepAndRelease):
            if eff.provider in self.cannot_sleep:
                self.delete(eff.provider)
                return
            self.servers[eff.provider] = True
            self._patch(E.PatchMeta(eff.provider, labels={N.LBL_DUAL: None, N.LBL_SLEEPING: "true"},
                                    annotations={N.ANN_REQUESTER: None, N.ANN_LAST_USED: f"{w.now:.3f}"}))
            if eff.requester:
                self._patch(E.PatchMeta(eff.requester, remove_finalizers=(N.FIN_REQUESTER,)))
        elif isinstance(eff, E.BecomeReady):
            r = w.pods.get(eff.requester)
            if r is not None:
                w.told_ready.add((P.uid(r), eff.provider))
                r["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
        elif isinstance(eff, E.BecomeUnready):
            r = w.pods.get(eff.requester)
            if r is not None:
                w.told_ready.discard((P.uid(r), eff.provider))
                r["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
        elif isinstance(eff, E.CreateInstance):
            insts = w.instances.setdefault(eff.launcher, {})
            if eff.instance_id not in insts:
                port = _port_of(eff.body.get("options", ""))
                insts[eff.instance_id] = InstanceView(eff.instance_id, "running", port, False, True,
                                                      dict(eff.body.get("annotations") or {}), w.now)
        elif isinstance(eff, E.DeleteInstance):
            w.instances.get(eff.launcher, {}).pop(eff.instance_id, None)
        elif isinstance(eff, E.WakeInstance):
            insts = w.instances.get(eff.launcher, {})
            if eff.instance_id in insts:
                insts[eff.instance_id] = replace(insts[eff.instance_id], sleeping=False)
        elif isinstance(eff, E.SleepInstance):
            insts = w.instances.get(eff.launcher, {})
            if eff.instance_id in insts:
                insts[eff.instance_id] = replace(insts[eff.instance_id], sleeping=True, last_used=w.now)
            self._patch(eff.unbind)
            if eff.requester:
                self._patch(E.PatchMeta(eff.requester, remove_finalizers=(N.FIN_REQUESTER,)))
        else:  # pragma: no cover
            raise TypeError(f"unknown effect {eff!r}")

    def _patch(self, eff: E.PatchMeta) -> None:
        pod = self.world.pods.get(eff.pod)
        if pod is None:
            raise Conflict(f"pod {eff.pod} not found")
        md = pod["metadata"]
        ann = md.setdefault("annotations", {})
        for key, want in eff.expect.items():
            if ann.get(key) != want:
                raise Conflict(f"{eff.pod}: {key} is {ann.get(key)!r}, expected {want!r}")
        for src, dst in ((eff.labels, md.setdefault("labels", {})), (eff.annotations, ann)):
            for k, v in src.items():
                if v is None:
                    dst.pop(k, None)
                else:
                    dst[k] = v
        fins = [f for f in md.get("finalizers") or [] if f not in eff.remove_finalizers]
        if md.get("deletionTimestamp"):
            fins += [f for f in eff.add_finalizers if f not in fins and f in (md.get("finalizers") or [])]
        else:
            fins += [f for f in eff.add_finalizers if f not in fins]
        md["finalizers"] = fins
        if md.get("deletionTimestamp") and not fins:
            self.delete(eff.pod)


def _port_of(options: str) -> int:
    parts = options.split()
    for i, tok in enumerate(parts):
        if tok == "--port" and i + 1 < len(parts):
            return int(parts[i + 1])
        if tok.startswith("--port="):
            return int(tok.split("=", 1)[1])
    return 8000
