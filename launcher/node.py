"""The LauncherActor: owns the node's GPUs and byte budget, the instance table, the
event log under the state dir, and the watch revisions.

Every change goes through :meth:`Node.transition` under one lock: the lifecycle decides,
the record is appended to the :class:`FileLog` (with the watch revision when the change
is one FMA's watch reports), the watch buffer and subscribers hear of it. Admission
(create, wake) checks the budget under the same lock, so bytes are never over-committed.
Slow work runs in each instance's :class:`InstanceActor`.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
from pathlib import Path
from typing import Any, Callable, Mapping

from fma.engines.options import OptionsError, parse_options
from fma.events import FileLog, Record
from fma.statemachines import IllegalCommand, InstanceState
from launcher import procs
from launcher.budget import Budget
from launcher.ids import BadRequest, Conflict, CreateRequest, NotFound, WatchEvent, check_instance_id, new_instance_id
from launcher.instance import STOP_GRACE_S, Instance, InstanceActor
from launcher.nodelifecycle import NodeLauncherLifecycle
from launcher.recovery import recover
from launcher.spawner import SpawnError, Spawner
from launcher.watch import WatchBuffer

log = logging.getLogger(__name__)
S = InstanceState
LIVE = frozenset({S.LOADING, S.AWAKE, S.SWAPPING, S.SLEEPING})


def instance_command(engine: Any, req: CreateRequest, argv: tuple[str, ...], indices: list[int],
                     base_env: Mapping[str, str] | None = None) -> tuple[list[str], dict[str, str]]:
    """(argv after ``python -m MODULE``, full environment) from the engine's own command."""
    from fma.engines.base import EngineSpec

    spec = EngineSpec(options=list(argv), gpu_indices=tuple(indices), env=dict(req.env_vars or {}),
                      gpu_uuids=tuple(req.gpu_uuids or ()))
    cmd, extra = engine.command(spec)
    if len(cmd) < 3 or cmd[1] != "-m":
        raise BadRequest(f"engine {engine.name!r} does not start with `python -m MODULE`: {cmd[:3]}", 500)
    env = dict(os.environ if base_env is None else base_env)
    env.setdefault("VLLM_WORKER_MULTIPROC_METHOD", "fork")
    env.update(extra)
    return cmd[3:], env


def port_free(port: int, host: str | None = None) -> bool:
    """Whether ``port`` can be bound where instances of this launcher listen: the pod IP
    (``FMA_POD_IP``) when set — another pod's instance on the same port elsewhere is no
    clash — else every interface."""
    host = host or os.environ.get("FMA_POD_IP") or "0.0.0.0"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False


class Node:
    """See the module doc. ``spawner.on_exit`` is set to this node's exit handler."""

    def __init__(self, name: str, state_dir: str | os.PathLike[str], spawner: Spawner, budget: Budget,
                 engine: Any, log_dir: str | None = None,
                 validate: bool = True, stop_grace: float = STOP_GRACE_S,
                 poll_interval: float = 0.05) -> None:
        self.name = name
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir = Path(log_dir) if log_dir else self.state_dir / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.spawner = spawner
        self.budget = budget
        self.validate = validate
        self.engine = engine
        self.stop_grace = stop_grace
        self.poll_interval = poll_interval
        self.actor = f"launcher/{name}"
        self.lock = threading.RLock()
        self.log = FileLog(self.state_dir / "events.log")
        self.instances: dict[str, Instance] = {}
        self._by_pid: dict[int, Instance] = {}
        self._incarnations: dict[str, int] = {}
        self._watchers: dict[str, procs.PidWatcher] = {}
        self._listeners: list[Callable[[str, Instance, Record], None]] = []
        self._exits: queue.Queue[tuple[int, int | None] | None] = queue.Queue()
        self._exit_thread = threading.Thread(target=self._exit_loop, name=f"exits-{name}", daemon=True)
        self._closed = False
        self.node_lc = NodeLauncherLifecycle()
        spawner.on_exit = self._on_exit  # type: ignore[attr-defined]
        self._exit_thread.start()
        recovered = recover(self)
        self.watch = WatchBuffer(recovered.revision, recovered.events)
        self.revision = recovered.revision
        self._record_node("started", {"pid": os.getpid(), "engine": getattr(engine, "name", str(engine))})
        for inst in recovered.adopt:
            self._adopt(inst)
        for inst in recovered.lost:
            self.transition(inst, "crashed", {"exit_code": None, "reason": "process gone while the launcher was down"},
                            watch="STOPPED")
        log.info("launcher %s: %d instance(s) re-adopted, %d marked failed, revision %d",
                 name, len(recovered.adopt), len(recovered.lost), self.revision)

    # -- recording ----------------------------------------------------------------------
    def add_listener(self, fn: Callable[[str, Instance, Record], None]) -> None:
        """``fn(kind, instance, record)`` after each instance transition (kind = event name)."""
        self._listeners.append(fn)

    def _record_node(self, trigger: str, data: Mapping[str, Any]) -> Record:
        with self.lock:
            step = self.node_lc.handle(trigger, data)
            ev = step.events[0]
            return self.log.append(self.actor, NodeLauncherLifecycle.name, ev.name, ev.src, ev.dst, ev.data)

    def transition(self, inst: Instance, trigger: str, data: Mapping[str, Any] | None = None,
                   watch: str | None = None) -> Record:
        """Apply ``trigger`` to the instance's lifecycle and record it (IllegalCommand if refused)."""
        data = dict(data or {})
        with self.lock:
            if watch is not None:
                data["revision"] = self.revision + 1
            step = inst.lc.handle(trigger, data)
            ev = step.events[0]
            if watch is not None:
                self.revision += 1
                inst.revision = self.revision
            if "exit_code" in data:
                inst.exit_code = data["exit_code"]
            record = self.log.append(inst.actor, "instance", ev.name, ev.src, ev.dst, ev.data)
            if watch is not None:
                obj = inst.state_dict()
                if watch == "STOPPED":
                    obj["exit_code"] = inst.exit_code
                self.watch.add(WatchEvent(self.revision, watch, obj))
            if inst.lc.is_final:
                inst.final.set()
        with inst.changed:
            inst.changed.notify_all()
        for fn in list(self._listeners):
            try:
                fn(trigger, inst, record)
            except Exception:
                log.exception("launcher %s: listener failed on %s", self.name, trigger)
        log.info("instance %s: %s %s -> %s", inst.instance_id, trigger, ev.src, ev.dst)
        return record

    def observe(self, inst: Instance, trigger: str, data: Mapping[str, Any]) -> bool:
        """An observation from an actor; ignored (False) when the state moved on meanwhile."""
        with self.lock:
            if trigger not in inst.lc.allowed():
                log.debug("instance %s: late observation %s in %s ignored", inst.instance_id, trigger, inst.state.value)
                return False
            self.transition(inst, trigger, data)
            return True

    # -- process exits ------------------------------------------------------------------
    def _on_exit(self, pid: int, code: int | None) -> None:  # spawner thread: never block
        self._exits.put((pid, code))

    def _exit_loop(self) -> None:
        while True:
            item = self._exits.get()
            if item is None:
                return
            pid, code = item
            with self.lock:
                inst = self._by_pid.get(pid)
            if inst is not None:
                self.process_gone(inst, code)

    def process_gone(self, inst: Instance, code: int | None) -> None:
        """The instance's main process ended (exit code None when it was not our child)."""
        with self.lock:
            if inst.lc.is_final:
                return
            self._by_pid.pop(inst.pid or -1, None)
            watcher = self._watchers.pop(inst.instance_id, None)
            data = {"exit_code": code}
            if inst.state is S.STOPPING:
                self.transition(inst, "exited", data)
            else:
                self.transition(inst, "crashed", {**data, "reason": "process exited"},
                                watch=None if inst.deleting else "STOPPED")
        if watcher is not None:
            watcher.close()
        if inst.pid:
            procs.signal_group(inst.pid, 9)  # vLLM's own children must not outlive it

    # -- queries ------------------------------------------------------------------------
    def get(self, instance_id: str) -> Instance:
        with self.lock:
            inst = self.instances.get(instance_id)
            if inst is None:
                raise NotFound(instance_id)
            return inst

    def list(self, detail: bool = True) -> dict[str, Any]:
        with self.lock:
            states = [i.state_dict() for i in self.instances.values()]
            if not detail:
                return {"revision": self.revision, "instance_ids": [s["instance_id"] for s in states],
                        "count": len(states)}
            return {"revision": self.revision, "total_instances": len(states),
                    "running_instances": sum(1 for s in states if s["status"] == "running"),
                    "instances": states}

    def holdings(self) -> list[Any]:
        with self.lock:
            return [i.holding() for i in self.instances.values()]

    # -- create -------------------------------------------------------------------------
    def create(self, req: CreateRequest, instance_id: str | None = None) -> dict[str, Any]:
        """Admit and start an instance; BadRequest (4xx) leaves nothing behind."""
        iid = check_instance_id(instance_id) if instance_id is not None else new_instance_id()
        try:
            opts = parse_options(req.options)
        except OptionsError as exc:
            raise BadRequest(f"instance {iid}: {exc}") from None
        gpus = list(req.gpu_uuids or ())
        unknown = self.budget.unknown(gpus)
        if unknown:
            known = ", ".join(sorted(self.budget.gpus)) or "none"
            raise BadRequest(f"instance {iid}: unknown GPU UUID(s) {', '.join(unknown)} on node {self.name} "
                             f"(known: {known})")
        if self.validate:
            try:
                self.spawner.validate(opts.argv)
            except ValueError as exc:
                raise BadRequest(f"instance {iid}: {exc}") from None
        total = min((self.budget.gpus[u].total_bytes for u in gpus), default=0)
        est = self.engine.estimate_bytes(opts, total)
        gpu_bytes, host_bytes = (int(est.gpu_bytes) if gpus else 0), int(est.host_bytes_when_asleep)
        with self.lock:
            if self._closed:
                raise BadRequest("launcher is shutting down", 503)
            if iid in self.instances:
                raise Conflict(f"Instance with ID {iid} already exists")
            for other in self.instances.values():
                if other.port == opts.port and not other.lc.is_final:
                    raise Conflict(f"instance {iid}: port {opts.port} is used by instance {other.instance_id}")
            if not port_free(opts.port):
                raise Conflict(f"instance {iid}: port {opts.port} is already in use on this node")
            short = self.budget.gpu_shortfall(self.holdings(), gpus, gpu_bytes)
            if short:
                raise BadRequest(f"instance {iid} {short}")
            n = self._incarnations.get(iid, 0) + 1
            actor = f"instance/{self.name}/{iid}" + (f"#{n}" if n > 1 else "")
            log_path = str(self.log_dir / f"{iid}.log")
            open(log_path, "wb").close()
            argv, env = instance_command(self.engine, req, opts.argv, self.budget.indices(gpus))
            try:
                pid = self.spawner.spawn(argv, env, log_path)
            except SpawnError as exc:
                raise BadRequest(f"instance {iid}: could not start: {exc}", 500) from None
            inst = Instance(instance_id=iid, actor=actor, request=req, argv=opts.argv, port=opts.port,
                            gpu_bytes=gpu_bytes, host_bytes=host_bytes, log_path=log_path,
                            pid=pid, ticks=procs.start_ticks(pid))
            self._incarnations[iid] = n
            self.instances[iid] = inst
            self._by_pid[pid] = inst
            data = {"instance_id": iid, **req.fields(), "argv": list(opts.argv), "port": opts.port,
                    "gpu_bytes": gpu_bytes, "host_bytes": host_bytes, "log_path": log_path,
                    "pid": pid, "ticks": inst.ticks}
            self.transition(inst, "start", data, watch="CREATED")
            self._start_actor(inst).watch_ready()
            return inst.state_dict()

    def _start_actor(self, inst: Instance) -> Any:
        inst.actor_ref = InstanceActor.start(self, inst, self.poll_interval)
        return inst.actor_ref.proxy()

    def _adopt(self, inst: Instance) -> None:
        with self.lock:
            self.instances[inst.instance_id] = inst
            proxy = self._start_actor(inst)
            self._watchers[inst.instance_id] = procs.PidWatcher(
                inst.pid or 0, inst.ticks, lambda: self.process_gone(inst, None), inst.instance_id)
        if inst.state is S.LOADING:
            proxy.watch_ready()
        elif inst.state is S.SWAPPING:
            proxy.settle_swap()
        elif inst.state is S.STOPPING:
            proxy.do_stop(self.stop_grace)

    # -- sleep / wake -------------------------------------------------------------------
    def _wait_settled(self, inst: Instance, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with inst.changed:
            while inst.state is S.SWAPPING and time.monotonic() < deadline:
                inst.changed.wait(min(0.5, max(0.0, deadline - time.monotonic())))

    def sleep(self, instance_id: str, level: int = 1, wait: float = 600.0) -> dict[str, Any]:
        if level not in (1, 2):
            raise BadRequest(f"sleep level must be 1 or 2, got {level}")
        with self.lock:
            inst = self.get(instance_id)
            if inst.state is S.SLEEPING:
                return inst.state_dict()
            if inst.state is not S.AWAKE:
                raise Conflict(f"instance {instance_id} cannot sleep while {inst.state.value}")
            host = inst.host_bytes if level == 1 else 0
            short = self.budget.host_shortfall(self.holdings(), host)
            if short:
                raise BadRequest(f"instance {instance_id} cannot sleep: {short}")
            self.transition(inst, "sleep", {"level": level})
            inst.actor_ref.proxy().do_sleep(level)
        self._wait_settled(inst, wait)
        return inst.state_dict()

    def wake(self, instance_id: str, wait: float = 600.0) -> dict[str, Any]:
        with self.lock:
            inst = self.get(instance_id)
            if inst.state is S.AWAKE:
                return inst.state_dict()
            if inst.state is not S.SLEEPING:
                raise Conflict(f"instance {instance_id} cannot wake while {inst.state.value}")
            others = [h for h in self.holdings() if h.instance_id != instance_id]
            short = self.budget.gpu_shortfall(others, inst.request.gpu_uuids or (), inst.gpu_bytes)
            if short:
                raise BadRequest(f"instance {instance_id} cannot wake: {short}")
            self.transition(inst, "wake", {})
            inst.actor_ref.proxy().do_wake()
        self._wait_settled(inst, wait)
        return inst.state_dict()

    # -- stop / delete ------------------------------------------------------------------
    def begin_stop(self, inst: Instance) -> None:
        with self.lock:
            inst.deleting = True
            if inst.state in LIVE:
                self.transition(inst, "stop", {})
                inst.actor_ref.proxy().do_stop(self.stop_grace)

    def delete(self, instance_id: str) -> dict[str, Any]:
        """Stop (SIGTERM, grace, SIGKILL) and remove; returns the final state (status stopped)."""
        inst = self.get(instance_id)
        self.begin_stop(inst)
        if not inst.final.wait(self.stop_grace + 15.0):
            log.error("instance %s: still not gone after stop; removing it anyway", instance_id)
        return self._remove(inst)

    def _remove(self, inst: Instance) -> dict[str, Any]:
        with self.lock:
            if self.instances.get(inst.instance_id) is not inst:
                return inst.state_dict()
            self.revision += 1
            inst.revision = self.revision
            self._record_node("removed", {"instance_id": inst.instance_id, "actor": inst.actor,
                                          "revision": self.revision})
            del self.instances[inst.instance_id]
            self._by_pid.pop(inst.pid or -1, None)
            watcher = self._watchers.pop(inst.instance_id, None)
            state = inst.state_dict()
            self.watch.add(WatchEvent(self.revision, "DELETED", state))
        if watcher is not None:
            watcher.close()
        if inst.actor_ref is not None:
            inst.actor_ref.stop(block=False)
        for fn in list(self._listeners):
            try:
                fn("removed", inst, None)  # type: ignore[arg-type]
            except Exception:
                log.exception("launcher %s: listener failed on removal", self.name)
        return state

    def delete_all(self) -> dict[str, Any]:
        with self.lock:
            targets = list(self.instances.values())
            for inst in targets:
                self.begin_stop(inst)
        results = []
        for inst in targets:
            inst.final.wait(self.stop_grace + 15.0)
            results.append(self._remove(inst))
        return {"status": "all_stopped", "stopped_instances": results, "total_stopped": len(results)}

    # -- shutdown -----------------------------------------------------------------------
    def close(self, stop_instances: bool = False) -> None:
        """Stop the launcher; instances keep running unless ``stop_instances``."""
        if stop_instances:
            self.delete_all()
        with self.lock:
            self._closed = True
            refs = [i.actor_ref for i in self.instances.values() if i.actor_ref is not None]
            watchers = list(self._watchers.values())
            self._watchers.clear()
        for w in watchers:
            w.close()
        for ref in refs:
            try:
                ref.stop(block=True, timeout=15)
            except Exception:
                pass
        self._exits.put(None)
        self._exit_thread.join(timeout=5)
        self.watch.wake_all()
        self.log.close()
