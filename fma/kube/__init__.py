"""The Kubernetes layer of FMA-py — the only package that imports ``kubernetes``.

Public API (objects are plain dicts in the API's JSON shape):

* :func:`load_client(kubeconfig=None, url=None)` — official ``ApiClient`` from a URL, a
  kubeconfig ($KUBECONFIG, ~/.kube/config) or the in-cluster service account.
* :class:`Rest` — ``get/list/create/replace/patch(merge|json|strategic, sub=status)/delete``
  on the kinds of :data:`KINDS` (pods, configmaps, events, nodes, namespaces, leases,
  replicasets, inferenceserverconfigs, launcherconfigs, launcherpopulationpolicies).
  Errors: :class:`KubeError` with subclasses :class:`Forbidden` (403), :class:`NotFound` (404),
  :class:`Conflict` (409),
  :class:`Invalid` (422, also a failed JSON-patch ``test``).
* :class:`Informer(api, kind, namespace, label_selector, on_event)` — list+watch with
  bookmarks, relist on 410, backoff; cache ``get/list/by_node/by_label``.
* Patch helpers: :func:`patch_pod_annotations` (JSON patch guarded by a resourceVersion
  ``test`` when given the last-seen pod), :func:`annotation_ops`, :func:`patch_labels`,
  :func:`add_finalizer`, :func:`remove_finalizer`, :func:`pointer`.
* :func:`record_event(rest, obj, reason, message, type_)`.
* :class:`EventSync(rest, log, rules, ...)` — selected event-log records become Kubernetes Events
  on the Pod/Node their actor path names (bounded queue + worker, rate-limited, drops counted).
* :class:`LeaderElector` on a ``coordination.k8s.io`` Lease; :func:`run_leading` runs a
  controller while it holds one (the policy both FMA controllers share).
* CRs: :func:`get_cr`, :func:`list_crs`, :func:`patch_cr_status` and the plurals ISC/LC/LPP.
* :mod:`fma.kube.emulator` — the API server emulator (``fma apiserver``).

Names are loaded lazily so that ``import fma.kube.emulator`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "load_client": "client", "Rest": "client", "KubeError": "client", "NotFound": "client",
    "Conflict": "client", "Invalid": "client", "Forbidden": "client", "KINDS": "client", "Kind": "client",
    "Informer": "informer",
    "patch_pod_annotations": "patches", "annotation_ops": "patches", "patch_labels": "patches",
    "add_finalizer": "patches", "remove_finalizer": "patches", "pointer": "patches",
    "record_event": "events", "LeaderElector": "leader", "run_leading": "leader", "EventSync": "eventsync",
    "get_cr": "crs", "list_crs": "crs", "patch_cr_status": "crs", "ISC": "crs", "LC": "crs", "LPP": "crs",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module 'fma.kube' has no attribute {name!r}")
    return getattr(importlib.import_module(f"fma.kube.{mod}"), name)
