"""Clients: an official ``ApiClient`` from a kubeconfig (or in-cluster), and the
resource table that maps our short kind names to list/watch calls and REST paths."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

from kubernetes import client, config as kconfig
from kubernetes.client.rest import ApiException

Obj = dict[str, Any]
GROUP, VERSION = "fma.llm-d.ai", "v1alpha1"


class KubeError(Exception):
    """An API error, with the HTTP ``status`` and the server's ``Status`` message."""

    def __init__(self, status: int, message: str, reason: str = "", body: Obj | None = None) -> None:
        super().__init__(f"HTTP {status} {reason}: {message}")
        self.status, self.message, self.reason, self.body = status, message, reason, body or {}


class NotFound(KubeError):
    """404."""


class Forbidden(KubeError):
    """403: refused, e.g. by a ValidatingAdmissionPolicy."""


class Conflict(KubeError):
    """409: already exists, or a stale resourceVersion."""


class Invalid(KubeError):
    """422: validation failed or a JSON-patch ``test`` did not hold."""


def wrap(exc: ApiException, what: str = "", text: str | None = None) -> KubeError:
    """The right KubeError subclass for an ApiException, naming ``what`` failed."""
    try:
        body = json.loads(text if text is not None else (exc.body or "{}"))
    except (TypeError, ValueError):
        body = {}
    msg = body.get("message") or str(exc.reason)
    if what:
        msg = f"{what}: {msg}"
    cls = {403: Forbidden, 404: NotFound, 409: Conflict, 422: Invalid}.get(exc.status or 0, KubeError)
    return cls(exc.status or 0, msg, body.get("reason", ""), body)


def load_client(kubeconfig: str | None = None, url: str | None = None) -> client.ApiClient:
    """An ApiClient: ``url`` (an unauthenticated server such as the emulator), else the
    kubeconfig file (or $KUBECONFIG / ~/.kube/config), else the in-cluster service account."""
    cfg = client.Configuration()
    if url:
        cfg.host = url.rstrip("/")
        return client.ApiClient(cfg)
    try:
        kconfig.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
    except Exception:
        if kubeconfig:
            raise
        kconfig.load_incluster_config(client_configuration=cfg)
    return client.ApiClient(cfg)


@dataclass(frozen=True)
class Kind:
    """Where a kind lives: group/version/plural and whether it is namespaced."""
    plural: str
    group: str = ""
    version: str = "v1"
    namespaced: bool = True

    def path(self, namespace: str | None = None, name: str | None = None, sub: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name:
            base += f"/{name}"
        if sub:
            base += f"/{sub}"
        return base


KINDS: dict[str, Kind] = {
    "pods": Kind("pods"), "configmaps": Kind("configmaps"), "events": Kind("events"),
    "services": Kind("services"), "secrets": Kind("secrets"),
    "nodes": Kind("nodes", namespaced=False), "namespaces": Kind("namespaces", namespaced=False),
    "leases": Kind("leases", "coordination.k8s.io"), "replicasets": Kind("replicasets", "apps"),
    "inferenceserverconfigs": Kind("inferenceserverconfigs", GROUP, VERSION),
    "launcherconfigs": Kind("launcherconfigs", GROUP, VERSION),
    "launcherpopulationpolicies": Kind("launcherpopulationpolicies", GROUP, VERSION),
}


def kind(name: str) -> Kind:
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown kind {name!r}; known: {', '.join(sorted(KINDS))}") from None


class Rest:
    """Plain-dict REST calls over an ApiClient (JSON in, JSON out, KubeError on failure)."""

    def __init__(self, api: client.ApiClient) -> None:
        self.api = api

    def call(self, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None,
             content_type: str = "application/json", timeout: float | None = None,
             stream: bool = False, what: str = "") -> Any:
        qp = [(k, v) for k, v in (query or {}).items() if v is not None and v != ""]
        headers = {"Content-Type": content_type, "Accept": "application/json"}
        try:
            if hasattr(self.api, "param_serialize"):  # kubernetes >= 35 (new generator)
                m, url, hdrs, b, post = self.api.param_serialize(method=method, resource_path=path, query_params=qp,
                                                                header_params=headers, body=body,
                                                                auth_settings=["BearerToken"])
                resp = self.api.call_api(m, url, header_params=hdrs, body=b, post_params=post,
                                         _request_timeout=timeout)
                raw = resp.response
            else:  # older clients
                raw = self.api.call_api(path, method, query_params=qp, body=body, header_params=headers,
                                        auth_settings=["BearerToken"], _preload_content=False,
                                        _request_timeout=timeout, _return_http_data_only=True)
        except ApiException as exc:
            raise wrap(exc, what or f"{method} {path}") from None
        if raw.status >= 400:
            data = raw.data
            raise wrap(ApiException(status=raw.status, reason=raw.reason), what or f"{method} {path}",
                       data.decode("utf-8", "replace") if isinstance(data, bytes) else data)
        if stream:
            return raw
        return json.loads(raw.data or b"{}")

    def get(self, k: str, namespace: str | None, name: str) -> Obj:
        return self.call("GET", kind(k).path(namespace, name), what=f"get {k} {namespace or ''}/{name}")

    def list(self, k: str, namespace: str | None = None, label_selector: str = "", field_selector: str = "") -> Obj:
        return self.call("GET", kind(k).path(namespace), query={"labelSelector": label_selector,
                                                                 "fieldSelector": field_selector},
                         what=f"list {k}")

    def create(self, k: str, namespace: str | None, body: Obj, dry_run: bool = False) -> Obj:
        md = body.get("metadata") or {}
        return self.call("POST", kind(k).path(namespace), body, {"dryRun": "All" if dry_run else None},
                         what=f"create {k} {namespace or ''}/{md.get('name') or md.get('generateName', '') + '*'}")

    def replace(self, k: str, namespace: str | None, name: str, body: Obj, sub: str | None = None) -> Obj:
        return self.call("PUT", kind(k).path(namespace, name, sub), body, what=f"update {k} {namespace or ''}/{name}")

    def patch(self, k: str, namespace: str | None, name: str, patch: Any, patch_type: str = "merge",
              sub: str | None = None, dry_run: bool = False) -> Obj:
        ctype = {"merge": "application/merge-patch+json", "json": "application/json-patch+json",
                 "strategic": "application/strategic-merge-patch+json"}[patch_type]
        return self.call("PATCH", kind(k).path(namespace, name, sub), patch, {"dryRun": "All" if dry_run else None},
                         content_type=ctype, what=f"patch {k} {namespace or ''}/{name}")

    def delete(self, k: str, namespace: str | None, name: str, grace_seconds: int | None = None,
               propagation: str | None = None, uid: str | None = None) -> Obj:
        body: Obj = {"apiVersion": "v1", "kind": "DeleteOptions"}
        if grace_seconds is not None:
            body["gracePeriodSeconds"] = grace_seconds
        if propagation:
            body["propagationPolicy"] = propagation
        if uid:
            body["preconditions"] = {"uid": uid}
        return self.call("DELETE", kind(k).path(namespace, name), body, what=f"delete {k} {namespace or ''}/{name}")


Callback = Callable[[str, Obj], None]
