"""Plain-dict Kubernetes calls for ``fma local`` (scheduler, kubelet stand-in, scenarios).

Owned by the local engineer; kept inside ``fma/kube/`` because only this package imports
``kubernetes``. Every object goes in and comes out as a dict in the API's JSON shape
(camelCase), so callers never touch client model classes.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any, Callable, Iterator, Mapping

import kubernetes
from kubernetes import client
from kubernetes.client.rest import ApiException

log = logging.getLogger(__name__)

Obj = dict[str, Any]
CRD_GROUP = "fma.llm-d.ai"
CRD_VERSION = "v1alpha1"


class Conflict(Exception):
    """409 from the API server (already exists, or a stale resourceVersion)."""


class NotFound(Exception):
    """404 from the API server."""


def _wrap(exc: ApiException, what: str) -> Exception:
    if exc.status == 404:
        return NotFound(f"{what}: not found")
    if exc.status == 409:
        return Conflict(f"{what}: conflict: {exc.body}")
    return RuntimeError(f"{what}: HTTP {exc.status}: {exc.body}")


def api_client(url: str) -> client.ApiClient:
    """An ApiClient for an unauthenticated API server at ``url`` (the emulator)."""
    cfg = client.Configuration()
    cfg.host = url.rstrip("/")
    cfg.verify_ssl = False
    return client.ApiClient(cfg)


def write_kubeconfig(path: str, url: str, context: str = "fma-local") -> None:
    """A kubeconfig pointing kubectl and `fma` programs at ``url`` (no credentials)."""
    doc = {
        "apiVersion": "v1", "kind": "Config", "current-context": context,
        "clusters": [{"name": context, "cluster": {"server": url, "insecure-skip-tls-verify": url.startswith("https")}}],
        "users": [{"name": context, "user": {}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context, "namespace": "default"}}],
    }
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=1)


class LocalKube:
    """The calls ``fma local`` makes, with dicts in and out."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.api = api_client(url)
        self.core = client.CoreV1Api(self.api)
        self.custom = client.CustomObjectsApi(self.api)

    def close(self) -> None:
        self.api.close()

    # ---- raw helpers
    @staticmethod
    def _json(resp: Any) -> Obj:
        return json.loads(resp.data or b"{}")

    def _call(self, what: str, fn: Callable[..., Any], *a: Any, **kw: Any) -> Obj:
        try:
            return self._json(fn(*a, _preload_content=False, **kw))
        except ApiException as exc:
            raise _wrap(exc, what) from None

    # ---- nodes
    def create_node(self, node: Obj) -> Obj:
        return self._call(f"node {node['metadata']['name']}", self.core.create_node, node)

    def patch_node_status(self, name: str, status: Obj) -> Obj:
        return self._call(f"node {name} status", self.core.patch_node_status, name, {"status": status})

    def list_nodes(self) -> list[Obj]:
        return self._call("nodes", self.core.list_node).get("items") or []

    # ---- configmaps
    def upsert_configmap(self, namespace: str, name: str, data: Mapping[str, str]) -> Obj:
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace},
                "data": dict(data)}
        try:
            return self._call(f"configmap {namespace}/{name}", self.core.create_namespaced_config_map, namespace, body)
        except Conflict:
            return self._call(f"configmap {namespace}/{name}", self.core.patch_namespaced_config_map,
                              name, namespace, {"data": dict(data)})

    # ---- namespaces
    def ensure_namespace(self, name: str) -> None:
        try:
            self._call(f"namespace {name}", self.core.create_namespace,
                       {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        except Conflict:
            pass

    # ---- pods
    def create_pod(self, namespace: str, pod: Obj) -> Obj:
        name = pod["metadata"].get("name") or pod["metadata"].get("generateName", "") + "*"
        return self._call(f"pod {namespace}/{name}", self.core.create_namespaced_pod, namespace, pod)

    def get_pod(self, namespace: str, name: str) -> Obj:
        return self._call(f"pod {namespace}/{name}", self.core.read_namespaced_pod, name, namespace)

    def list_pods(self, namespace: str | None = None, label_selector: str = "") -> Obj:
        """The whole list object (``items`` and ``metadata.resourceVersion``)."""
        if namespace:
            return self._call("pods", self.core.list_namespaced_pod, namespace, label_selector=label_selector)
        return self._call("pods", self.core.list_pod_for_all_namespaces, label_selector=label_selector)

    def patch_pod(self, namespace: str, name: str, patch: Obj) -> Obj:
        return self._call(f"pod {namespace}/{name}", self.core.patch_namespaced_pod, name, namespace, patch)

    def patch_pod_status(self, namespace: str, name: str, status: Obj) -> Obj:
        return self._call(f"pod {namespace}/{name} status", self.core.patch_namespaced_pod_status,
                          name, namespace, {"status": status})

    def delete_pod(self, namespace: str, name: str, grace_seconds: int | None = None) -> None:
        kw: dict[str, Any] = {}
        if grace_seconds is not None:
            kw["grace_period_seconds"] = grace_seconds
        try:
            self._call(f"pod {namespace}/{name}", self.core.delete_namespaced_pod, name, namespace, **kw)
        except NotFound:
            pass

    def bind_pod(self, namespace: str, name: str, node: str, annotations: Mapping[str, str] | None = None) -> None:
        """Assign a pod to a node: annotations first (a patch), then the ``binding`` subresource.

        Falls back to patching ``spec.nodeName`` when the server lacks ``pods/binding``.
        """
        if annotations:
            self.patch_pod(namespace, name, {"metadata": {"annotations": dict(annotations)}})
        body = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name, "namespace": namespace},
                "target": {"apiVersion": "v1", "kind": "Node", "name": node}}
        from fma.kube.client import KubeError, Rest  # call_api's signature differs across client versions

        try:
            Rest(self.api).call("POST", f"/api/v1/namespaces/{namespace}/pods/{name}/binding", body)
        except KubeError as exc:
            if exc.status in (404, 405):  # no binding subresource here (or no pod: the patch says so)
                self.patch_pod(namespace, name, {"spec": {"nodeName": node}})
            elif exc.status == 409:
                raise Conflict(f"binding pod {namespace}/{name} to {node}: {exc.message}") from None
            else:
                raise RuntimeError(f"binding pod {namespace}/{name} to {node}: {exc}") from None

    # ---- custom objects (fma.llm-d.ai/v1alpha1)
    def create_custom(self, namespace: str, plural: str, obj: Obj) -> Obj:
        return self._call(f"{plural} {namespace}/{obj['metadata'].get('name')}",
                          self.custom.create_namespaced_custom_object, CRD_GROUP, CRD_VERSION, namespace, plural, obj)

    def delete_custom(self, namespace: str, plural: str, name: str) -> None:
        try:
            self._call(f"{plural} {namespace}/{name}", self.custom.delete_namespaced_custom_object,
                       CRD_GROUP, CRD_VERSION, namespace, plural, name)
        except NotFound:
            pass

    # ---- watch
    def watch_pods(self, on_event: Callable[[str, Obj], None], stop: threading.Event,
                   namespace: str | None = None, label_selector: str = "") -> None:
        """List then watch pods until ``stop`` is set; ``on_event(type, pod)``.

        The list is delivered as ``ADDED`` events; a 410 Gone (or any broken stream) relists,
        delivering every current pod again as ``ADDED`` (handlers must be idempotent).
        """
        while not stop.is_set():
            try:
                lst = self.list_pods(namespace, label_selector)
                for item in lst.get("items") or []:
                    on_event("ADDED", item)
                rv = (lst.get("metadata") or {}).get("resourceVersion")
                for typ, obj in self._watch_stream(rv, stop, namespace, label_selector):
                    on_event(typ, obj)
            except Exception as exc:  # noqa: BLE001 - a broken watch relists, never kills the loop
                if stop.is_set():
                    return
                log.warning("pod watch restarting after %s: %s", type(exc).__name__, exc)
                stop.wait(0.2)

    def _watch_stream(self, rv: str | None, stop: threading.Event, namespace: str | None,
                      label_selector: str) -> Iterator[tuple[str, Obj]]:
        w = kubernetes.watch.Watch()
        fn = (self.core.list_namespaced_pod if namespace else self.core.list_pod_for_all_namespaces)
        args = (namespace,) if namespace else ()
        while not stop.is_set():
            kw: dict[str, Any] = {"timeout_seconds": 1, "deserialize": False, "allow_watch_bookmarks": True}
            if label_selector:
                kw["label_selector"] = label_selector
            if rv:
                kw["resource_version"] = rv
            for ev in w.stream(fn, *args, **kw):
                typ = ev.get("type")
                obj = ev.get("raw_object") or ev.get("object")
                if typ == "ERROR":
                    raise RuntimeError(f"watch error: {obj}")
                if isinstance(obj, dict):
                    rv = (obj.get("metadata") or {}).get("resourceVersion") or rv
                if typ == "BOOKMARK":
                    continue
                yield str(typ), obj
                if stop.is_set():
                    w.stop()
                    return
