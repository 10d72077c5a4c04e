"""What the populator needs from Kubernetes, as a small plain-dict interface.

Implemented in memory by :class:`fma.controllers.populator.memport.MemoryPort` (tests,
what-if runs) and over the API by ``fma.kube.populator_port.ClientPopulatorPort`` (the
only place that imports the kubernetes client). Watch events arrive as
``callback(kind, type, obj)``, kind in :data:`KINDS`, type ``ADDED|MODIFIED|DELETED``; a
(re)list is delivered as ADDED events plus DELETED for objects that vanished meanwhile.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

Obj = dict[str, Any]
WatchCallback = Callable[[str, str, Obj], None]
KINDS = ("nodes", "pods", "launcherconfigs", "launcherpopulationpolicies")


class PortConflict(Exception):
    """409: a precondition (uid, resourceVersion) did not hold, or the name is taken."""


class PortNotFound(Exception):
    """404: the object is gone."""


class PopulatorPort(Protocol):
    namespace: str

    def watch(self, callback: WatchCallback) -> None:
        """Start delivering events of every kind in :data:`KINDS` (pods: launcher pods only)."""

    def stop(self) -> None: ...

    def get_pod(self, name: str) -> Obj | None:
        """The pod as the API server has it now (None if absent): resolves stale expectations."""

    def create_pod(self, body: Obj) -> Obj:
        """Create (``generateName`` allowed); returns the stored pod (with its name and uid)."""

    def delete_pod(self, name: str, uid: str, resource_version: str) -> None:
        """Delete only if the pod still has this uid and resourceVersion (else PortConflict)."""

    def patch_pod_labels(self, name: str, labels: dict[str, str | None]) -> Obj:
        """Merge-patch labels; ``None`` removes one."""

    def update_status(self, kind: str, name: str, status: Obj) -> None:
        """Replace the status of a LauncherConfig or LauncherPopulationPolicy."""

    def record_event(self, obj: Obj, reason: str, message: str, type_: str = "Normal") -> None: ...
