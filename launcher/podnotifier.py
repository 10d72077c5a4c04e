"""Keeps the launcher pod's ``dual-pods.llm-d.ai/vllm-instance-signature`` annotation current.

Signature: hex SHA-256 of the JSON of the sorted ``[instance_id, status]`` pairs. The pod
is patched through a small :class:`PodPatcher` interface — :class:`KubePodPatcher` uses
:mod:`fma.kube` (the only kubernetes importer); tests pass a fake. Patches are made by a
background thread, coalesced: only the newest signature is written, and only when it
changed; a failed patch is retried with backoff.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from typing import Any, Iterable, Mapping, Protocol

log = logging.getLogger(__name__)

ANNOTATION = "dual-pods.llm-d.ai/vllm-instance-signature"


def signature(pairs: Iterable[tuple[str, str]]) -> str:
    body = json.dumps(sorted([list(p) for p in pairs]), separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


class PodPatcher(Protocol):
    def annotate(self, namespace: str, name: str, annotations: Mapping[str, str]) -> None: ...


class KubePodPatcher:
    """Merge-patches pod annotations through :mod:`fma.kube` (in-cluster service account,
    or ``kubeconfig`` / ``url`` when given, e.g. under ``fma local``)."""

    def __init__(self, kubeconfig: str | None = None, url: str | None = None) -> None:
        from fma.kube import Rest, load_client

        self._rest = Rest(load_client(kubeconfig=kubeconfig, url=url))

    def annotate(self, namespace: str, name: str, annotations: Mapping[str, str]) -> None:
        from fma.kube import patch_pod_annotations

        patch_pod_annotations(self._rest, namespace, name, dict(annotations))


class PodNotifier:
    def __init__(self, node: Any, namespace: str, pod: str, patcher: PodPatcher, retry_s: float = 1.0) -> None:
        self.node = node
        self.namespace = namespace
        self.pod = pod
        self.patcher = patcher
        self.retry_s = retry_s
        self.written: str | None = None
        self._wanted = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"pod-notifier-{pod}", daemon=True)
        node.add_listener(lambda *_: self._wanted.set())
        self._wanted.set()
        self._thread.start()

    def current(self) -> str:
        with self.node.lock:
            return signature((i.instance_id, i.status()) for i in self.node.instances.values())

    def _run(self) -> None:
        delay = self.retry_s
        while not self._stop.is_set():
            self._wanted.wait(0.5)
            if self._stop.is_set():
                return
            if not self._wanted.is_set():
                continue
            self._wanted.clear()
            sig = self.current()
            if sig == self.written:
                continue
            try:
                self.patcher.annotate(self.namespace, self.pod, {ANNOTATION: sig})
                self.written = sig
                delay = self.retry_s
            except Exception as exc:
                log.warning("pod %s/%s: cannot write %s: %s (retry in %.1f s)",
                            self.namespace, self.pod, ANNOTATION, exc, delay)
                self._wanted.set()
                self._stop.wait(delay)
                delay = min(delay * 2, 30.0)

    def close(self) -> None:
        self._stop.set()
        self._wanted.set()
        self._thread.join(timeout=5)
