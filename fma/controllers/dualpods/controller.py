"""The live dual-pods controller: informer cache -> per-node work queue -> decide -> effects.

Level-based: a watch event only says *which node* to look at again; each pass re-reads
the whole (cached) world for that node, decides, and carries the effects out. A pass
that did something is followed by another pass; a failed effect is retried with
back-off. Nodes are independent, so several are reconciled at once, but never one node
twice at the same time (a node's requesters compete for its sleepers and launchers).
Every decision that acts (or changes kind) is one event-log record, and the bindings'
lifecycles (:class:`fma.statemachines.BindingLifecycle`) are driven from the decisions.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from dataclasses import replace
from typing import Any, Callable

from fma.controllers.dualpods import names as N
from fma.controllers.dualpods import pods as P
from fma.controllers.dualpods.decide import decide_node
from fma.controllers.dualpods.decision import Decision
from fma.controllers.dualpods.effects import BecomeReady
from fma.controllers.dualpods.executor import EffectFailed, Executor
from fma.controllers.dualpods.housekeeping import sleepers_per_gpu
from fma.controllers.dualpods.journal import Journal
from fma.controllers.dualpods.launcherwatch import LauncherWatcher
from fma.controllers.dualpods.port import KubePort, Obj
from fma.controllers.dualpods.workqueue import WorkQueue
from fma.controllers.dualpods.world import Config, InstanceView, World, launcher_node

log = logging.getLogger(__name__)


def _rv(obj: Obj | None) -> int:
    try:
        return int(((obj or {}).get("metadata") or {}).get("resourceVersion") or 0)
    except ValueError:
        return 0


class DualPodsController:
    def __init__(self, port: KubePort, config: Config | None = None, journal: Journal | None = None,
                 workers: int = 2, clock: Callable[[], float] = time.time, metrics: Any = None) -> None:
        self.port = port
        self.config = config or Config()
        self.journal = journal or Journal()
        self.metrics = metrics
        self.clock = clock
        self.namespace = port.namespace
        self._lock = threading.RLock()
        self.cache: dict[str, dict[str, Obj]] = {k: {} for k in
                                                   ("pods", "inferenceserverconfigs", "launcherconfigs",
                                                    "configmaps", "nodes")}
        self.told_ready: set[tuple[str, str]] = set()
        # nodes: None until the port says (SYNCED: the full list arrived; UNWATCHED: not
        # allowed); a port that never says is trusted once it delivered any node
        self._nodes_synced: bool | None = None
        self.instances: dict[str, dict[str, InstanceView]] = {}
        self.queue = WorkQueue()
        self.executor = Executor(port, self._cached_pod, self._observe, self.told_ready,
                                 self._set_instance, clock)
        self.launchers = LauncherWatcher(self._publish_instances)
        self._workers = workers
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self.passes = 0

    # ---- lifecycle ---------------------------------------------------------------
    def start(self) -> "DualPodsController":
        self.port.watch(self._on_event)
        for i in range(self._workers):
            t = threading.Thread(target=self._work, name=f"dualpods-worker-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        self.queue.add_all(self._nodes())
        log.info("dual-pods controller started in namespace %s (sleeper limit %d)",
                 self.namespace, self.config.sleeper_limit)
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.queue.shutdown()
        for t in self._threads:
            t.join(10)
        self._threads.clear()
        self.launchers.close()
        self.executor.close()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """True once no node is queued, in progress or waiting for a retry (tests)."""
        return self.queue.wait_idle(timeout)

    # ---- informer side -------------------------------------------------------------
    def _on_event(self, kind: str, type_: str, obj: Obj) -> None:
        if type_ in ("SYNCED", "UNWATCHED"):
            if kind == "nodes":
                with self._lock:
                    was, self._nodes_synced = self._nodes_synced, type_ == "SYNCED"
                    if type_ == "UNWATCHED":
                        self.cache["nodes"].clear()
                if was != self._nodes_synced:
                    self.queue.add_all(self._nodes())
            return
        name = (obj.get("metadata") or {}).get("name", "")
        with self._lock:
            store = self.cache.setdefault(kind, {})
            old = store.get(name)
            if type_ == "DELETED":
                if old is not None and _rv(old) > _rv(obj) and not P.deleting(old):
                    return  # an older incarnation's deletion
                store.pop(name, None)
                if kind == "pods":
                    self.instances.pop(name, None)
            else:
                if old is not None and _rv(old) > _rv(obj):
                    return  # we already hold a newer copy (our own write)
                store[name] = obj
        if kind == "pods":
            if P.is_launcher(obj) or (old is not None and P.is_launcher(old)):
                with self._lock:
                    launchers = {n: p for n, p in self.cache["pods"].items() if P.is_launcher(p)}
                self.launchers.sync(launchers)
            self.queue.add_all({self._node_of(obj), self._node_of(old) if old else ""} - {None})  # type: ignore[arg-type]
        elif kind == "nodes":
            if type_ != "MODIFIED":  # only a node's presence matters (status updates are frequent)
                self.queue.add(name)
        else:
            self.queue.add_all(self._nodes())

    def _observe(self, obj: Obj | None, name: str) -> None:
        """Our own write's result: the cache holds it at once (read-your-writes)."""
        with self._lock:
            store = self.cache["pods"]
            if obj is None:
                gone = store.pop(name, None)
                self.instances.pop(name, None)
                node = self._node_of(gone) if gone else None
            else:
                if _rv(store.get(name)) <= _rv(obj):
                    if P.deleting(obj) and not P.finalizers(obj):
                        store.pop(name, None)
                    else:
                        store[name] = obj
                node = self._node_of(obj)
        if node:
            self.queue.add(node)

    def _set_instance(self, launcher: str, iid: str, view: Any) -> None:
        with self._lock:
            insts = self.instances.setdefault(launcher, {})
            if view is None:
                insts.pop(iid, None)
            elif view == "woke" and iid in insts:
                insts[iid] = replace(insts[iid], sleeping=False)
            elif view == "slept" and iid in insts:
                insts[iid] = replace(insts[iid], sleeping=True, last_used=self.clock())
            elif isinstance(view, InstanceView):
                old = insts.get(iid)
                insts[iid] = replace(view, ready=old.ready) if old is not None and old.status == view.status \
                    else view

    def _publish_instances(self, launcher: str, views: dict[str, InstanceView]) -> None:
        """A launcher's pushed records folded to its full instance map (see launcherwatch)."""
        with self._lock:
            self.instances[launcher] = views
            pod = self.cache["pods"].get(launcher)
        if pod is not None:
            self.queue.add(self._node_of(pod) or "")

    def instance_event(self, launcher: str, iid: str, **changes: Any) -> None:
        """A launcher pushed a change of one instance (status, ready, sleeping, port)."""
        with self._lock:
            insts = self.instances.setdefault(launcher, {})
            cur = insts.get(iid) or InstanceView(iid)
            insts[iid] = replace(cur, **changes)
            pod = self.cache["pods"].get(launcher)
        if pod is not None:
            self.queue.add(self._node_of(pod) or "")

    def _cached_pod(self, name: str) -> Obj | None:
        with self._lock:
            return self.cache["pods"].get(name)

    @staticmethod
    def _node_of(pod: Obj | None) -> str:
        if not pod:
            return ""
        return launcher_node(pod) if P.is_launcher(pod) else P.node(pod)

    def _nodes(self) -> set[str]:
        with self._lock:
            return {self._node_of(p) for p in self.cache["pods"].values()} | {""}

    # ---- the world ---------------------------------------------------------------
    def snapshot(self) -> World:
        import json

        with self._lock:
            gpu_map = None
            cm = self.cache["configmaps"].get(N.GPU_MAP)
            if cm is not None:
                gpu_map = {}
                for node, raw in (cm.get("data") or {}).items():
                    try:
                        gpu_map[node] = {str(k): int(v) for k, v in json.loads(raw).items()}
                    except (ValueError, AttributeError):
                        log.warning("gpu-map entry for node %s is not a JSON map of UUID to index", node)
            if self._nodes_synced is None:
                nodes = set(self.cache["nodes"]) if self.cache["nodes"] else None
            else:
                nodes = set(self.cache["nodes"]) if self._nodes_synced else None
            return World(
                namespace=self.namespace, now=self.clock(),
                pods=dict(self.cache["pods"]), iscs=dict(self.cache["inferenceserverconfigs"]),
                lcfgs=dict(self.cache["launcherconfigs"]), gpu_map=gpu_map, nodes=nodes,
                instances={k: dict(v) for k, v in self.instances.items()},
                told_ready=set(self.told_ready), config=self.config)

    def reconcile(self, node: str) -> bool:
        """One pass over one node; True when every effect succeeded."""
        self.passes += 1
        world = self.snapshot()
        ok = True
        acted = False
        with world.frozen():
            decisions = decide_node(world, node)
            if self.metrics is not None and node:
                self.metrics.sleepers_on(node, sleepers_per_gpu(world, node))
        for d in decisions:
            self.journal.decided(world.namespace, d)
            if self.metrics is not None:
                self.metrics.decided(d)
            done = 0
            for eff in d.effects:
                try:
                    self.executor.run(eff)
                    acted = True
                    if self.metrics is not None and isinstance(eff, BecomeReady):
                        self._ready_metric(world, eff.requester)
                    done += 1
                except EffectFailed as exc:
                    ok = False
                    self.journal.failed(world.namespace, d, eff, str(exc))
                    if self.metrics is not None:
                        self.metrics.failed(type(eff).__name__)
                    log.info("%s: %s failed: %s (will retry)", d.subject, type(eff).__name__, exc)
                    break
                except Exception as exc:  # a bug or an unexpected answer: retry, never crash
                    ok = False
                    self.journal.failed(world.namespace, d, eff, repr(exc))
                    log.exception("%s: %s raised", d.subject, type(eff).__name__)
                    break
            if done == len(d.effects):
                self.journal.completed(world.namespace, d)
        if acted and ok:
            self.queue.add(node)
        return ok

    def _ready_metric(self, world: World, requester: str) -> None:
        r = world.pods.get(requester)
        if r is not None and not P.ready(r):  # not a re-tell (after a restart) to a Ready one
            self.metrics.became_ready(P.created_ts(r), self.clock())

    def _work(self) -> None:
        while not self._stopping.is_set():
            node = self.queue.get()
            if node is None:
                return
            try:
                ok = self.reconcile(node)
            except Exception:
                log.exception("reconcile of node %r failed", node)
                ok = False
            self.queue.done(node, ok)
