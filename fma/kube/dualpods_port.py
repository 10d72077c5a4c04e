"""The dual-pods controller's KubePort over the official client (plain dicts in and out).

Added by the controller engineer as the smallest adapter the controller needs until the
kube layer's informers are wired in: list+watch per kind with resourceVersion and relist
on 410 Gone, JSON patch (with ``test`` ops), create/delete pods, Events.
See :class:`fma.controllers.dualpods.port.KubePort`.

Nodes are cluster-scoped: watching them needs a ClusterRole (the chart's
``global.nodeViewClusterRole``). When the API answers 403 the controller runs without
them (``world.nodes`` None: a deleted node is not noticed) after one warning, and the
port asks again every :data:`FORBIDDEN_RETRY` seconds, so a binding added later is
picked up without a restart. After each full list of a kind the port sends
``(kind, "SYNCED", {})``; while nodes are refused it sends ``("nodes", "UNWATCHED", {})``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any, Callable

from kubernetes import client, config as kconfig, watch
from kubernetes.client.rest import ApiException

log = logging.getLogger(__name__)
Obj = dict[str, Any]
GROUP, VERSION = "fma.llm-d.ai", "v1alpha1"
FORBIDDEN_RETRY = 60.0


def load_api_client(kubeconfig: str | None = None) -> client.ApiClient:
    """kubeconfig file (or $KUBECONFIG / ~/.kube/config), else in-cluster config."""
    cfg = client.Configuration()
    try:
        kconfig.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
    except Exception:
        if kubeconfig:
            raise
        kconfig.load_incluster_config(client_configuration=cfg)
    return client.ApiClient(cfg)


class ClientKubePort:
    def __init__(self, api: client.ApiClient, namespace: str, watch_nodes: bool = True,
                 forbidden_retry: float = FORBIDDEN_RETRY) -> None:
        self.api = api
        self.namespace = namespace
        self.watch_nodes = watch_nodes
        self.forbidden_retry = forbidden_retry
        self.core = client.CoreV1Api(api)
        self.custom = client.CustomObjectsApi(api)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # imported lazily by the controller so that only this module knows kubernetes errors
    @staticmethod
    def _map(exc: ApiException, what: str) -> Exception:
        from fma.controllers.dualpods.port import KubeConflict, KubeNotFound

        if exc.status == 404:
            return KubeNotFound(f"{what}: not found")
        if exc.status in (409, 422):
            return KubeConflict(f"{what}: {exc.status} {exc.body}")
        return RuntimeError(f"{what}: HTTP {exc.status}: {exc.body}")

    def _raw(self, fn: Callable[..., Any], *a: Any, **kw: Any) -> Any:
        resp = fn(*a, _preload_content=False, **kw)
        return json.loads(resp.data)

    # ---- watching --------------------------------------------------------------------
    def _listers(self) -> dict[str, Callable[..., Any]]:
        ns = self.namespace

        def custom(plural: str) -> Callable[..., Any]:
            return lambda **kw: self.custom.list_namespaced_custom_object(GROUP, VERSION, ns, plural, **kw)

        out = {
            "pods": lambda **kw: self.core.list_namespaced_pod(ns, **kw),
            "configmaps": lambda **kw: self.core.list_namespaced_config_map(ns, **kw),
            "inferenceserverconfigs": custom("inferenceserverconfigs"),
            "launcherconfigs": custom("launcherconfigs"),
        }
        if self.watch_nodes:
            out["nodes"] = lambda **kw: self.core.list_node(**kw)  # cluster-scoped
        return out

    def watch(self, callback: Callable[[str, str, Obj], None]) -> None:
        for kind, lister in self._listers().items():
            t = threading.Thread(target=self._loop, args=(kind, lister, callback),
                                 name=f"watch-{kind}", daemon=True)
            t.start()
            self._threads.append(t)

    def _loop(self, kind: str, lister: Callable[..., Any], callback: Callable[[str, str, Obj], None]) -> None:
        known: dict[str, Obj] = {}
        refused = False
        where = "the cluster" if kind == "nodes" else self.namespace
        while not self._stop.is_set():
            try:
                listed = self._raw(lister)
                rv = listed["metadata"].get("resourceVersion")
                seen = {}
                for obj in listed.get("items") or []:
                    seen[obj["metadata"]["name"]] = obj
                    callback(kind, "ADDED", obj)
                for name, obj in known.items():
                    if name not in seen:
                        callback(kind, "DELETED", obj)
                known = seen
                if refused:
                    log.info("%s in %s may be listed now; watching them again", kind, where)
                    refused = False
                callback(kind, "SYNCED", {})
                while not self._stop.is_set():
                    w = watch.Watch()
                    for ev in w.stream(lister, resource_version=rv, timeout_seconds=30):
                        if self._stop.is_set():
                            w.stop()
                            break
                        obj = ev["raw_object"]
                        if ev["type"] == "ERROR":
                            raise ApiException(status=obj.get("code", 500), reason=obj.get("message"))
                        rv = obj["metadata"].get("resourceVersion", rv)
                        if ev["type"] == "BOOKMARK":
                            continue
                        name = obj["metadata"]["name"]
                        if ev["type"] == "DELETED":
                            known.pop(name, None)
                        else:
                            known[name] = obj
                        callback(kind, ev["type"], obj)
            except ApiException as exc:
                if exc.status == 403 and kind == "nodes":
                    if not refused:
                        log.warning("cannot list or watch nodes (HTTP 403: %s): running without node "
                                    "watch, so the requesters on a deleted node are not deleted; grant "
                                    "the controller's service account get/list/watch on nodes (a "
                                    "ClusterRoleBinding, chart value global.nodeViewClusterRole); "
                                    "asking again every %gs", _reason(exc), self.forbidden_retry)
                        refused = True
                        known = {}
                        callback(kind, "UNWATCHED", {})
                    self._stop.wait(self.forbidden_retry)
                elif exc.status != 410:
                    log.warning("watch %s in %s failed: %s; relisting", kind, where, exc)
                    self._stop.wait(1.0)
            except Exception as exc:  # connection errors: back off, relist
                log.warning("watch %s in %s: %s: %s; relisting", kind, where,
                            exc.__class__.__name__, exc)
                self._stop.wait(1.0)

    def stop(self) -> None:
        self._stop.set()

    # ---- writes ----------------------------------------------------------------------
    def create_pod(self, body: Obj) -> Obj:
        try:
            return self._raw(self.core.create_namespaced_pod, self.namespace, body)
        except ApiException as exc:
            raise self._map(exc, f"create pod {body.get('metadata', {}).get('generateName')}") from None

    def patch_pod(self, name: str, ops: list[dict[str, Any]]) -> Obj:
        # the client picks the patch content type from the body: a list is a JSON patch
        try:
            return self._raw(self.core.patch_namespaced_pod, name, self.namespace, ops)
        except ApiException as exc:
            raise self._map(exc, f"patch pod {name}") from None

    def delete_pod(self, name: str) -> Obj | None:
        try:
            out = self._raw(self.core.delete_namespaced_pod, name, self.namespace)
        except ApiException as exc:
            raise self._map(exc, f"delete pod {name}") from None
        return out if out.get("kind") == "Pod" and (out.get("metadata") or {}).get("deletionTimestamp") else None

    def record_event(self, obj: Obj, reason: str, message: str, type_: str = "Normal") -> None:
        md = obj.get("metadata") or {}
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        body = {"metadata": {"generateName": f"{md.get('name', 'x')}.", "namespace": self.namespace},
                "involvedObject": {"kind": obj.get("kind", "Pod"), "name": md.get("name"),
                                   "namespace": self.namespace, "uid": md.get("uid")},
                "reason": reason, "message": message, "type": type_,
                "firstTimestamp": now, "lastTimestamp": now, "count": 1,
                "source": {"component": "fma-dual-pods-controller"}}
        try:
            self.core.create_namespaced_event(self.namespace, body)
        except ApiException as exc:
            log.warning("cannot record event %s on %s: %s", reason, md.get("name"), exc.status)


def _reason(exc: ApiException) -> str:
    try:
        return str(json.loads(exc.body or "{}").get("message") or exc.reason)
    except (ValueError, AttributeError):
        return str(exc.reason)
