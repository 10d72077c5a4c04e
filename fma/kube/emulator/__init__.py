"""A Kubernetes API server emulator that the unmodified official client and ``kubectl`` use.

    emu = Emulator(port=0, crd_dir="crds").start()
    emu.url                       # http://127.0.0.1:PORT
    emu.write_kubeconfig(path)    # for kubectl and fma programs
    api = emu.api_client()        # kubernetes.client.ApiClient pointed at it
    emu.stop()

Modules: ``store`` (objects, resourceVersion, history, finalizers, GC, persistence),
``api`` (verbs, subresources, validation, watch), ``server`` (HTTP/1.1, chunked watches,
Tables), ``selectors``, ``patch``, ``validation``, ``resources``, ``discovery``,
``replicaset`` (the in-process ReplicaSet controller), ``admission``
(ValidatingAdmissionPolicies, CEL via cel-python). Run it standalone with
``fma apiserver --port N``.

Admission: ``Emulator(admission_policies=PATH_OR_PATHS)`` loads the
ValidatingAdmissionPolicy(Binding) objects of YAML files or directories (other kinds in
them are skipped, so a rendered chart works); policies created through the API apply as
well. There is no authentication: a request's user is its ``Impersonate-User`` header
(kubectl ``--as``), else ``system:serviceaccount:<ns>:<name>`` for a bearer token
``sa:<ns>:<name>``, else ``admin``.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import threading
from typing import Any, Sequence

from fma.kube.emulator.api import Api, Target
from fma.kube.emulator.errors import ApiError
from fma.kube.emulator.rbac import Authorizer
from fma.kube.emulator.replicaset import ReplicaSetController
from fma.kube.emulator.server import Server
from fma.kube.emulator.store import Store

__all__ = ["Emulator", "Api", "ApiError", "Store"]
log = logging.getLogger(__name__)
AUTHZ_ENV = "FMA_EMULATOR_AUTHORIZATION_MODE"
DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class Emulator:
    """An API server on 127.0.0.1 (``port=0``: ephemeral), with the CRDs of ``crd_dir``."""

    def __init__(self, port: int = 0, crd_dir: str | None = "crds", persist: str | None = None,
                 host: str = "127.0.0.1", history: int = 10000, bookmark_interval: float = 5.0,
                 admission_policies: str | Sequence[str] | None = None,
                 authorization_mode: str | None = None) -> None:
        self.host, self.port = host, port
        self.crd_dir = crd_dir
        paths = [admission_policies] if isinstance(admission_policies, str) else list(admission_policies or [])
        for p in paths:
            if not os.path.exists(p):
                raise FileNotFoundError(f"admission policy path {p!r} does not exist")
        self.admission_policies = paths
        self.persist = persist
        self.api = Api(Store(history=history), bookmark_interval=bookmark_interval)
        # AlwaysAllow (default) or RBAC; the environment variable reaches an emulator inside `fma local`
        self.api.authorizer = Authorizer(authorization_mode or os.environ.get(AUTHZ_ENV) or "AlwaysAllow")
        self.rs = ReplicaSetController(self.api)
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._saver: threading.Thread | None = None
        self._stop = threading.Event()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "Emulator":
        self._bootstrap()
        self._server = Server((self.host, self.port), self.api)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="emulator-http", daemon=True)
        self._thread.start()
        self.rs.start()
        if self.persist:
            self._saver = threading.Thread(target=self._save_loop, name="emulator-persist", daemon=True)
            self._saver.start()
        log.info("API server emulator listening on %s", self.url)
        return self

    def __enter__(self) -> "Emulator":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        self.api.stopping.set()
        self.api.store.close()
        self.rs.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._saver is not None:
            self._saver.join(timeout=5)
        if self.persist:
            self.api.store.save(self.persist)

    def _save_loop(self) -> None:
        while not self._stop.wait(0.5):
            if self.api.store.dirty and self.persist:
                try:
                    self.api.store.save(self.persist)
                except OSError as exc:
                    log.warning("cannot persist the emulator's objects to %s: %s", self.persist, exc)

    # ------------------------------------------------------------------ setup
    def _bootstrap(self) -> None:
        api = self.api
        if self.persist and os.path.exists(self.persist):
            objs = api.store.load(self.persist)
            for key, obj in objs:
                if key == "apiextensions.k8s.io/customresourcedefinitions":
                    api.register_crd(obj)
            for key, obj in objs:
                api.store.restore(key, obj)
            log.info("restored %d objects from %s", len(objs), self.persist)
        ns_res = api.registry.by_key("/namespaces")
        for ns in DEFAULT_NAMESPACES:
            if api.store.peek("/namespaces", "", ns) is None:
                api.create(Target(ns_res, ""), {"metadata": {"name": ns}}, {})  # type: ignore[arg-type]
        if self.crd_dir:
            self.load_crds(self.crd_dir)
        for path in self.admission_policies:
            self.load_admission_policies(path)

    def load_crds(self, crd_dir: str) -> int:
        """Create (or replace) every CRD found in ``crd_dir``'s YAML files; returns how many."""
        import yaml

        crd_res = self.api.registry.by_key("apiextensions.k8s.io/customresourcedefinitions")
        assert crd_res is not None
        n = 0
        for path in sorted(glob.glob(os.path.join(crd_dir, "*.yaml")) + glob.glob(os.path.join(crd_dir, "*.yml"))):
            with open(path, encoding="utf-8") as fh:
                for doc in yaml.safe_load_all(fh):
                    if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                        continue
                    name = doc["metadata"]["name"]
                    if self.api.store.peek(crd_res.key, "", name) is None:
                        self.api.create(Target(crd_res, ""), doc, {})
                    else:
                        self.api.register_crd(doc)
                    n += 1
        return n

    def load_admission_policies(self, path: str) -> int:
        """Create (or replace) the ValidatingAdmissionPolicy and ...Binding objects of a YAML file or
        of a directory's YAML files (other kinds are skipped); returns how many."""
        import yaml

        from fma.kube.emulator.admission import _celpy

        _celpy()  # fail now, naming the missing library, rather than on the first pod update
        files = sorted(glob.glob(os.path.join(path, "*.yaml")) + glob.glob(os.path.join(path, "*.yml"))) \
            if os.path.isdir(path) else [path]
        plurals = {"ValidatingAdmissionPolicy": "validatingadmissionpolicies",
                   "ValidatingAdmissionPolicyBinding": "validatingadmissionpolicybindings"}
        n = 0
        for f in files:
            with open(f, encoding="utf-8") as fh:
                docs = list(yaml.safe_load_all(fh))
            # policies before bindings, as kubectl apply of the chart would leave them
            docs.sort(key=lambda d: 0 if isinstance(d, dict) and d.get("kind") == "ValidatingAdmissionPolicy" else 1)
            for doc in docs:
                if not isinstance(doc, dict) or doc.get("kind") not in plurals:
                    continue
                res = self.api.registry.find("admissionregistration.k8s.io", "v1", plurals[doc["kind"]])
                assert res is not None
                name = (doc.get("metadata") or {}).get("name")
                if not name:
                    raise ValueError(f"{f}: a {doc['kind']} without metadata.name")
                if self.api.store.peek(res.key, "", name) is None:
                    self.api.create(Target(res, ""), doc, {})
                else:
                    self.api.update(Target(res, "", name), doc, {})
                n += 1
        log.info("loaded %d admission policy objects from %s", n, path)
        return n

    # ------------------------------------------------------------------ clients
    def write_kubeconfig(self, path: str, namespace: str = "default", context: str = "fma-emulator") -> str:
        doc = {"apiVersion": "v1", "kind": "Config", "current-context": context, "preferences": {},
               "clusters": [{"name": context, "cluster": {"server": self.url}}],
               "users": [{"name": context, "user": {}}],
               "contexts": [{"name": context, "context": {"cluster": context, "user": context,
                                                          "namespace": namespace}}]}
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=1)
        return path

    def api_client(self) -> Any:
        """An official ``kubernetes.client.ApiClient`` for this emulator."""
        from kubernetes import client

        cfg = client.Configuration()
        cfg.host = self.url
        return client.ApiClient(cfg)
