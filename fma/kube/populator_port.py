"""The launcher populator's :class:`~fma.controllers.populator.port.PopulatorPort` over the
API (plain dicts in and out): informers on nodes, launcher pods (by label),
LauncherConfigs and LauncherPopulationPolicies; preconditioned deletes; label patches;
status writes; Events. Added by the populator engineer beside ``dualpods_port``.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from kubernetes import client

from fma.kube.client import Conflict, Invalid, KubeError, NotFound, Rest
from fma.kube.events import record_event
from fma.kube.informer import Informer

log = logging.getLogger(__name__)
Obj = dict[str, Any]
LAUNCHER_LABEL = "dual-pods.llm-d.ai/launcher-config-name"
KINDS = ("nodes", "pods", "launcherconfigs", "launcherpopulationpolicies")


class ClientPopulatorPort:
    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        from fma.controllers.populator.port import PortConflict, PortNotFound

        self._conflict, self._not_found = PortConflict, PortNotFound
        self.api = api
        self.rest = Rest(api)
        self.namespace = namespace
        self.informers: list[Informer] = []

    def _map(self, exc: KubeError) -> Exception:
        if isinstance(exc, NotFound):
            return self._not_found(str(exc))
        if isinstance(exc, (Conflict, Invalid)):
            return self._conflict(str(exc))
        return exc

    def watch(self, callback: Callable[[str, str, Obj], None]) -> None:
        for kind in KINDS:
            inf = Informer(self.api, kind, self.namespace, LAUNCHER_LABEL if kind == "pods" else "",
                           on_event=lambda typ, obj, kind=kind: callback(kind, typ, obj))
            self.informers.append(inf.start())

    def wait_synced(self, timeout: float) -> bool:
        return all(inf.wait_synced(timeout) for inf in self.informers)

    def stop(self) -> None:
        for inf in self.informers:
            inf.stop()

    def get_pod(self, name: str) -> Obj | None:
        try:
            return self.rest.get("pods", self.namespace, name)
        except NotFound:
            return None

    def create_pod(self, body: Obj) -> Obj:
        try:
            return self.rest.create("pods", self.namespace, body)
        except KubeError as exc:
            raise self._map(exc) from None

    def delete_pod(self, name: str, uid: str, resource_version: str) -> None:
        pre: Obj = {"uid": uid}
        if resource_version:
            pre["resourceVersion"] = resource_version
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": pre}
        try:
            self.rest.call("DELETE", f"/api/v1/namespaces/{self.namespace}/pods/{name}", body,
                           what=f"delete pod {self.namespace}/{name}")
        except KubeError as exc:
            raise self._map(exc) from None

    def patch_pod_labels(self, name: str, labels: dict[str, str | None]) -> Obj:
        try:
            return self.rest.patch("pods", self.namespace, name, {"metadata": {"labels": labels}}, "merge")
        except KubeError as exc:
            raise self._map(exc) from None

    def update_status(self, kind: str, name: str, status: Obj) -> None:
        patch = {"status": {"observedGeneration": status.get("observedGeneration"),
                            "errors": status.get("errors") or None}}
        try:
            self.rest.patch(kind, self.namespace, name, patch, "merge", sub="status")
        except KubeError as exc:
            raise self._map(exc) from None

    def record_event(self, obj: Obj, reason: str, message: str, type_: str = "Normal") -> None:
        obj = dict(obj)
        obj.setdefault("metadata", {}).setdefault("namespace", self.namespace)
        record_event(self.rest, obj, reason, message, type_, component="fma-launcher-populator")
