"""The resource types the emulator serves: built-ins and CRD-defined custom resources.

A :class:`Resource` says where a type lives in the URL space (group, version, plural),
how it is named (kind, short names), whether it is namespaced, which subresources it has,
which patch kinds it accepts and how ``kubectl get`` prints it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fma.kube.emulator.validation import SchemaValidator

Obj = dict[str, Any]
VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


@dataclass
class Resource:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    singular: str = ""
    short_names: list[str] = field(default_factory=list)
    status: bool = False  # has a status subresource
    builtin: bool = True  # strategic merge patch allowed
    columns: list[Obj] = field(default_factory=list)  # extra printer columns (name, type, jsonPath)
    validator: SchemaValidator | None = None
    categories: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.group}/{self.plural}"

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_kind(self) -> str:
        """``Kind.group`` as error messages name custom kinds (plain ``Kind`` for core)."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    @property
    def group_resource(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def discovery(self) -> list[Obj]:
        out = [{"name": self.plural, "singularName": self.singular or self.kind.lower(), "namespaced": self.namespaced,
                "kind": self.kind, "verbs": VERBS, **({"shortNames": self.short_names} if self.short_names else {}),
                **({"categories": self.categories} if self.categories else {})}]
        if self.status:
            out.append({"name": f"{self.plural}/status", "singularName": "", "namespaced": self.namespaced,
                        "kind": self.kind, "verbs": ["get", "patch", "update"]})
        if self.key in ("apps/replicasets", "apps/deployments"):
            out.append({"name": f"{self.plural}/scale", "singularName": "", "namespaced": self.namespaced,
                        "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]})
        if self.key == "/pods":
            out.append({"name": "pods/binding", "singularName": "", "namespaced": True, "kind": "Binding",
                        "verbs": ["create"]})
        return out


def _core(plural: str, kind: str, **kw: Any) -> Resource:
    return Resource("", "v1", plural, kind, **kw)


def builtin_resources() -> list[Resource]:
    pod_cols = [{"name": "Ready", "type": "string", "jsonPath": "$ready"},
                {"name": "Status", "type": "string", "jsonPath": ".status.phase"},
                {"name": "Node", "type": "string", "jsonPath": ".spec.nodeName", "priority": 1},
                {"name": "IP", "type": "string", "jsonPath": ".status.podIP", "priority": 1}]
    return [
        _core("pods", "Pod", short_names=["po"], status=True, columns=pod_cols, categories=["all"]),
        _core("configmaps", "ConfigMap", short_names=["cm"]),
        _core("secrets", "Secret"),
        _core("serviceaccounts", "ServiceAccount", short_names=["sa"]),
        _core("services", "Service", short_names=["svc"], status=True, categories=["all"]),
        _core("events", "Event", short_names=["ev"],
              columns=[{"name": "Reason", "type": "string", "jsonPath": ".reason"},
                       {"name": "Object", "type": "string", "jsonPath": ".involvedObject.name"},
                       {"name": "Message", "type": "string", "jsonPath": ".message"}]),
        _core("nodes", "Node", namespaced=False, short_names=["no"], status=True),
        _core("namespaces", "Namespace", namespaced=False, short_names=["ns"], status=True,
              columns=[{"name": "Status", "type": "string", "jsonPath": ".status.phase"}]),
        Resource("coordination.k8s.io", "v1", "leases", "Lease",
                 columns=[{"name": "Holder", "type": "string", "jsonPath": ".spec.holderIdentity"}]),
        Resource("apps", "v1", "replicasets", "ReplicaSet", short_names=["rs"], status=True, categories=["all"],
                 columns=[{"name": "Desired", "type": "integer", "jsonPath": ".spec.replicas"},
                          {"name": "Current", "type": "integer", "jsonPath": ".status.replicas"}]),
        Resource("apps", "v1", "deployments", "Deployment", short_names=["deploy"], status=True, categories=["all"]),
        Resource("rbac.authorization.k8s.io", "v1", "roles", "Role"),
        Resource("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
        Resource("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", namespaced=False),
        Resource("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", namespaced=False),
        Resource("admissionregistration.k8s.io", "v1", "validatingadmissionpolicies", "ValidatingAdmissionPolicy",
                 namespaced=False, status=True),
        Resource("admissionregistration.k8s.io", "v1", "validatingadmissionpolicybindings",
                 "ValidatingAdmissionPolicyBinding", namespaced=False),
        Resource("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition",
                 namespaced=False, short_names=["crd", "crds"], status=True),
    ]


def resources_from_crd(crd: Obj) -> list[Resource]:
    """One Resource per served version of a CRD object."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    out = []
    for ver in spec.get("versions") or []:
        if not ver.get("served", True):
            continue
        schema = ((ver.get("schema") or {}).get("openAPIV3Schema")) or {"type": "object",
                                                                          "x-kubernetes-preserve-unknown-fields": True}
        cols = [{"name": c["name"], "type": c.get("type", "string"), "jsonPath": c["jsonPath"],
                 **({"priority": c["priority"]} if "priority" in c else {})}
                for c in ver.get("additionalPrinterColumns") or [] if c.get("jsonPath") != ".metadata.creationTimestamp"]
        out.append(Resource(
            group=spec.get("group", ""), version=ver["name"], plural=names.get("plural", ""),
            kind=names.get("kind", ""), namespaced=spec.get("scope", "Namespaced") == "Namespaced",
            singular=names.get("singular", ""), short_names=list(names.get("shortNames") or []),
            status="status" in (ver.get("subresources") or {}), builtin=False, columns=cols,
            validator=SchemaValidator(schema), categories=list(names.get("categories") or []),
        ))
    return out
