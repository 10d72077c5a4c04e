"""Carries effects out: Kubernetes writes through the :class:`KubePort`, vLLM admin calls
through :class:`fma.engines.client.ServerClient`, the requester SPI and the launcher REST
API over HTTP. Every write's returned object is handed to ``observe`` so the
controller's cache reflects its own writes before the watch event arrives.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Callable

import httpx

from fma.controllers.dualpods import effects as E
from fma.controllers.dualpods import names as N
from fma.controllers.dualpods.port import KubeConflict, KubeNotFound, KubePort, Obj, pointer
from fma.controllers.dualpods.world import InstanceView
from fma.engines.client import EngineError, ServerClient

log = logging.getLogger(__name__)


class EffectFailed(Exception):
    """An effect could not be done now; the rest of its decision is skipped and retried."""


class Executor:
    def __init__(self, port: KubePort, cached: Callable[[str], Obj | None],
                 observe: Callable[[Obj | None, str], None], told_ready: set[tuple[str, str]],
                 instances: Callable[[str, str, InstanceView | None], None] | None = None,
                 clock: Callable[[], float] = time.time, http_timeout: float = 10.0,
                 engine_timeout: float = 120.0) -> None:
        self.port = port
        self.cached = cached
        self.observe = observe
        self.told_ready = told_ready
        self.set_instance = instances or (lambda launcher, iid, view: None)
        self.clock = clock
        self._http = httpx.Client(timeout=http_timeout, trust_env=False)
        self.engine_timeout = engine_timeout

    def close(self) -> None:
        self._http.close()

    # ---- dispatch ----------------------------------------------------------------
    def run(self, effect: Any) -> None:
        handler = getattr(self, "_" + type(effect).__name__)
        try:
            handler(effect)
        except (KubeConflict, httpx.HTTPError, EngineError) as exc:
            raise EffectFailed(f"{type(effect).__name__}: {exc}") from exc

    # ---- Kubernetes ---------------------------------------------------------------
    def _PatchMeta(self, e: E.PatchMeta) -> None:
        cur = self.cached(e.pod)
        if cur is None:
            raise EffectFailed(f"pod {e.pod} not in cache")
        md = cur.get("metadata") or {}
        ann = md.get("annotations") or {}
        for key, want in e.expect.items():
            if ann.get(key) != want:
                raise EffectFailed(f"pod {e.pod}: {key} is {ann.get(key)!r}, expected {want!r}")
        ops: list[dict[str, Any]] = [{"op": "test", "path": "/metadata/resourceVersion",
                                      "value": md.get("resourceVersion")}]
        for field, changes in (("labels", e.labels), ("annotations", e.annotations)):
            if not changes:
                continue
            new = dict(md.get(field) or {})
            for k, v in changes.items():
                if v is None:
                    new.pop(k, None)
                else:
                    new[k] = v
            ops.append({"op": "add", "path": pointer("metadata", field), "value": new})
        if e.add_finalizers or e.remove_finalizers:
            fins = [f for f in md.get("finalizers") or [] if f not in e.remove_finalizers]
            if not md.get("deletionTimestamp"):
                fins += [f for f in e.add_finalizers if f not in fins]
            ops.append({"op": "add", "path": "/metadata/finalizers", "value": fins})
        if len(ops) == 1:
            return
        try:
            out = self.port.patch_pod(e.pod, ops)
        except KubeNotFound:
            self.observe(None, e.pod)
            raise EffectFailed(f"pod {e.pod} is gone") from None
        self.observe(out, e.pod)

    def _CreatePod(self, e: E.CreatePod) -> None:
        out = self.port.create_pod(dict(e.pod))
        self.observe(out, out["metadata"]["name"])
        log.info("created pod %s for %s", out["metadata"]["name"], e.for_requester)

    def _DeletePod(self, e: E.DeletePod) -> None:
        try:
            out = self.port.delete_pod(e.pod)
        except KubeNotFound:
            out = None
        self.observe(out, e.pod)
        log.info("deleted pod %s: %s", e.pod, e.reason)

    def _RecordEvent(self, e: E.RecordEvent) -> None:
        pod = self.cached(e.pod) or {"metadata": {"name": e.pod}}
        self.port.record_event({"kind": "Pod", **pod}, e.reason, e.message, e.type_)
        log.log(logging.WARNING if e.type_ == "Warning" else logging.INFO, "event %s on pod %s: %s",
                e.reason, e.pod, e.message)

    def _SetStatus(self, e: E.SetStatus) -> None:
        value = json.dumps({"Errors": list(e.errors)}) if e.errors else None
        self._PatchMeta(E.PatchMeta(e.requester, annotations={N.ANN_STATUS: value}))

    # ---- requester SPI ------------------------------------------------------------
    def _QueryAccelerators(self, e: E.QueryAccelerators) -> None:
        r = self._http.get(e.url + "/v1/dual-pods/accelerators")
        if r.status_code != 200:
            raise EffectFailed(f"{e.requester}: accelerators -> {r.status_code} {r.text[:200]}")
        gpus = r.json()
        if not isinstance(gpus, list) or not gpus or not all(isinstance(g, str) for g in gpus):
            raise EffectFailed(f"{e.requester}: accelerators answered {gpus!r}")
        self._PatchMeta(E.PatchMeta(e.requester, annotations={N.ANN_ACCELERATORS: ",".join(gpus)}))

    def _BecomeReady(self, e: E.BecomeReady) -> None:
        body = None
        if e.target:
            host, _, port = e.target.rpartition(":")
            body = {"address": host, "port": int(port)}
        r = self._http.post(e.url + "/v1/become-ready", json=body)
        r.raise_for_status()
        cur = self.cached(e.requester)
        if cur is not None:
            self.told_ready.add((cur["metadata"].get("uid", ""), e.provider))

    def _BecomeUnready(self, e: E.BecomeUnready) -> None:
        r = self._http.post(e.url + "/v1/become-unready")
        r.raise_for_status()
        cur = self.cached(e.requester)
        if cur is not None:
            self.told_ready.discard((cur["metadata"].get("uid", ""), e.provider))

    def _CheckAcceleratorMemory(self, e: E.CheckAcceleratorMemory) -> None:
        r = self._http.get(e.url + "/v1/dual-pods/accelerator-memory-usage")
        r.raise_for_status()
        used = r.json()
        for gpu in e.gpus:
            if not isinstance(used, dict) or gpu not in used:
                raise EffectFailed(f"requester {e.requester}: no memory usage reported for GPU {gpu}")
            if int(used[gpu]) > e.limit_mib:
                raise EffectFailed(f"requester {e.requester}: GPU {gpu} uses {int(used[gpu])} MiB, more than "
                                   f"the {e.limit_mib} MiB sleepers may hold; not waking yet")
        log.debug("requester %s: GPU memory %s MiB within %d MiB", e.requester,
                  {g: used[g] for g in e.gpus}, e.limit_mib)

    # ---- vLLM (through fma.engines) -------------------------------------------------
    def _WakeProvider(self, e: E.WakeProvider) -> None:
        with ServerClient(e.url, timeout=self.engine_timeout) as c:
            if not c.wake():
                raise EffectFailed(f"provider {e.provider} still sleeping after wake_up")
        self._PatchMeta(E.PatchMeta(e.provider, labels={N.LBL_SLEEPING: "false"}))

    def _SleepAndRelease(self, e: E.SleepAndRelease) -> None:
        try:
            with ServerClient(e.url, timeout=self.engine_timeout) as c:
                asleep = c.sleep(level=1)
        except EngineError as exc:
            log.warning("provider %s cannot sleep (%s): deleting it", e.provider, exc)
            asleep = False
        if not asleep:
            self._DeletePod(E.DeletePod(e.provider, "could not be put to sleep"))
            return
        self._PatchMeta(E.PatchMeta(
            e.provider, labels={N.LBL_DUAL: None, N.LBL_SLEEPING: "true"},
            annotations={N.ANN_REQUESTER: None, N.ANN_LAST_USED: f"{self.clock():.3f}"}))
        if e.requester:
            self._PatchMeta(E.PatchMeta(e.requester, remove_finalizers=(N.FIN_REQUESTER,)))

    # ---- launcher ------------------------------------------------------------------
    def _CreateInstance(self, e: E.CreateInstance) -> None:
        r = self._http.put(f"{e.url}/v2/vllm/instances/{e.instance_id}", json=dict(e.body))
        if r.status_code not in (200, 201, 409) or (r.status_code == 409 and "already exists" not in r.text):
            # 409 is success only for "this id exists" (idempotent create), not a port clash
            raise EffectFailed(f"launcher {e.launcher}: create {e.instance_id} -> {r.status_code} {r.text[:300]}")
        state = r.json() if r.status_code != 409 else {"status": "running"}
        self.set_instance(e.launcher, e.instance_id, InstanceView(
            e.instance_id, str(state.get("status", "running")), _port_of(str(e.body.get("options", ""))),
            False, False, dict(e.body.get("annotations") or {}), self.clock()))

    def _DeleteInstance(self, e: E.DeleteInstance) -> None:
        r = self._http.delete(f"{e.url}/v2/vllm/instances/{e.instance_id}")
        if r.status_code not in (200, 404):
            raise EffectFailed(f"launcher {e.launcher}: delete {e.instance_id} -> {r.status_code}")
        self.set_instance(e.launcher, e.instance_id, None)

    def _WakeInstance(self, e: E.WakeInstance) -> None:
        if not e.launcher_url:
            with ServerClient(e.url, timeout=self.engine_timeout) as c:
                if not c.wake():
                    raise EffectFailed(f"instance {e.instance_id} still sleeping after wake_up")
        else:
            r = self._http.post(f"{e.launcher_url}/v2/vllm/instances/{e.instance_id}/wake_up",
                                timeout=self.engine_timeout)
            if r.status_code != 200 or _phase(r) != "awake":
                raise EffectFailed(f"launcher {e.launcher}: wake_up {e.instance_id} -> {r.status_code} "
                                   f"{r.text[:300]}")
        self.set_instance(e.launcher, e.instance_id, "woke")  # type: ignore[arg-type]

    def _SleepInstance(self, e: E.SleepInstance) -> None:
        """Through the launcher: a sleep behind its back would leave its GPU ledger counting
        the instance awake, and it would refuse the next instance on that GPU."""
        r = self._http.post(f"{e.launcher_url}/v2/vllm/instances/{e.instance_id}/sleep",
                            params={"level": 1}, timeout=self.engine_timeout)
        if r.status_code >= 500:
            raise EffectFailed(f"launcher {e.launcher}: sleep {e.instance_id} -> {r.status_code} {r.text[:300]}")
        if r.status_code == 404:
            self.set_instance(e.launcher, e.instance_id, None)
        elif r.status_code == 200 and _phase(r) == "sleeping":
            self.set_instance(e.launcher, e.instance_id, "slept")  # type: ignore[arg-type]
        else:
            log.warning("launcher %s: instance %s cannot sleep (%s %s): deleting it", e.launcher,
                        e.instance_id, r.status_code, r.text[:300])
            self._DeleteInstance(E.DeleteInstance(e.launcher, e.launcher_url, e.instance_id, "cannot sleep"))
        self._PatchMeta(e.unbind)
        if e.requester:
            self._PatchMeta(E.PatchMeta(e.requester, remove_finalizers=(N.FIN_REQUESTER,)))


def _phase(r: httpx.Response) -> str:
    try:
        body = r.json()
    except ValueError:
        return ""
    return str(body.get("phase", "")) if isinstance(body, dict) else ""


def _port_of(options: str) -> int:
    parts = options.split()
    for i, tok in enumerate(parts):
        if tok == "--port" and i + 1 < len(parts) and parts[i + 1].isdigit():
            return int(parts[i + 1])
        if tok.startswith("--port=") and tok[7:].isdigit():
            return int(tok[7:])
    return 8000
