"""RBAC for the emulator: which (verb, API group, resource[/subresource]) a request's user
may use, from the stored Roles, ClusterRoles and their bindings, with the real server's
403 wording. Also a record of what service accounts asked for.

Enforced only in ``RBAC`` mode (``Emulator(authorization_mode="RBAC")``, ``fma apiserver
--authorization-mode RBAC`` or ``FMA_EMULATOR_AUTHORIZATION_MODE=RBAC`` for an emulator
started inside ``fma local``), and only for users outside ``system:masters`` (the emulator's
unauthenticated ``admin`` is inside it, like a cluster-admin kubeconfig). The record
(``/debug/fma/access`` on the HTTP server) is kept in both modes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from fma.kube.emulator.admission import UserInfo
from fma.kube.emulator.errors import ApiError

Obj = dict[str, Any]
RBAC_GROUP = "rbac.authorization.k8s.io"
MODES = ("AlwaysAllow", "RBAC")


@dataclass(frozen=True)
class Access:
    user: str
    verb: str
    group: str
    resource: str  # plural, or plural/subresource
    namespace: str  # "" for cluster scope
    allowed: bool

    def as_dict(self) -> Obj:
        return {"user": self.user, "verb": self.verb, "group": self.group, "resource": self.resource,
                "namespace": self.namespace, "allowed": self.allowed}


def request_verb(method: str, named: bool, watching: bool) -> str:
    if method == "GET":
        return "watch" if watching else ("get" if named else "list")
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method) or (
        "delete" if named else "deletecollection")


def _subject_matches(sub: Obj, user: UserInfo, binding_ns: str) -> bool:
    kind = sub.get("kind")
    if kind == "ServiceAccount":
        return user.username == f"system:serviceaccount:{sub.get('namespace') or binding_ns}:{sub.get('name')}"
    if kind == "User":
        return user.username == sub.get("name")
    if kind == "Group":
        return sub.get("name") in user.groups
    return False


def _rule_allows(rule: Obj, verb: str, group: str, resource: str, name: str) -> bool:
    if not ({"*", verb} & set(rule.get("verbs") or [])):
        return False
    if not ({"*", group} & set(rule.get("apiGroups") or [])):
        return False
    sub = resource.partition("/")[2]
    wanted = {resource, "*"} | ({f"*/{sub}"} if sub else set())
    if not (wanted & set(rule.get("resources") or [])):
        return False
    names = rule.get("resourceNames") or []
    return not names or name in names


class Authorizer:
    def __init__(self, mode: str = "AlwaysAllow") -> None:
        if mode not in MODES:
            raise ValueError(f"authorization mode {mode!r}: use one of {', '.join(MODES)}")
        self.mode = mode
        self._seen: set[Access] = set()
        self._lock = threading.Lock()

    def record(self) -> list[Obj]:
        with self._lock:
            return [a.as_dict() for a in sorted(self._seen, key=lambda a: (a.user, a.group, a.resource, a.verb))]

    def rules_for(self, store: Any, user: UserInfo, namespace: str) -> list[Obj]:
        """Every PolicyRule that applies to ``user`` in ``namespace`` ("" = cluster scope only)."""
        rules: list[Obj] = []
        with store.lock:
            bindings = [(b, "") for b in store.all_of(f"{RBAC_GROUP}/clusterrolebindings")]
            if namespace:
                bindings += [(b, namespace) for b in store.all_of(f"{RBAC_GROUP}/rolebindings")
                             if b["metadata"].get("namespace") == namespace]
            for b, ns in bindings:
                if not any(_subject_matches(s, user, ns) for s in b.get("subjects") or []):
                    continue
                ref = b.get("roleRef") or {}
                if ref.get("kind") == "ClusterRole":
                    role = store.peek(f"{RBAC_GROUP}/clusterroles", "", ref.get("name", ""))
                elif ref.get("kind") == "Role" and ns:
                    role = store.peek(f"{RBAC_GROUP}/roles", ns, ref.get("name", ""))
                else:
                    role = None
                rules += (role or {}).get("rules") or []
        return rules

    def check(self, store: Any, user: UserInfo, verb: str, group: str, resource: str, namespace: str,
              name: str = "") -> None:
        """Raise the real server's 403 when ``user`` may not; record service accounts' requests."""
        if "system:masters" in user.groups:
            return
        allowed = self.mode != "RBAC" or any(
            _rule_allows(r, verb, group, resource, name) for r in self.rules_for(store, user, namespace))
        if user.username.startswith("system:serviceaccount:"):
            with self._lock:
                self._seen.add(Access(user.username, verb, group, resource, namespace, allowed))
        if allowed:
            return
        where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
        plural = resource.split("/")[0]
        what = f"{plural}.{group}" if group else plural
        subject = f'{what} "{name}"' if name else what
        raise ApiError(403, f'{subject} is forbidden: User "{user.username}" cannot {verb} resource "{resource}" '
                       f'in API group "{group}" {where}', "Forbidden",
                       {"name": name, "group": group, "kind": plural})
