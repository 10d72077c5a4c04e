"""ValidatingAdmissionPolicies evaluated with ``cel-python``, as the API server would.

One evaluator serves two users: the emulator (policies and bindings stored in it, applied
to every write) and ``deploy/admission.py`` (the chart's policies checked offline).

Covered: binding and policy match (``resourceRules`` with ``resourceNames`` and
subresources, ``excludeResourceRules``, ``namespaceSelector`` and ``objectSelector`` with
``matchLabels``/``matchExpressions``), ``matchConditions`` (all must hold, else the policy
does not apply), ``variables`` (in order, as ``variables.<name>``), ``validations`` with
``message``/``messageExpression``/``reason``, ``failurePolicy`` for evaluation errors, and
the binding's ``validationActions`` (``Deny``, ``Warn``; ``Audit`` is ignored). Not
covered: ``paramKind``/``paramRef`` (``params`` is null), ``auditAnnotations``,
``authorizer``. CEL functions Kubernetes adds that the expressions use (``join``) are
supplied here.

    verdict = admit(policies_and_bindings, old_pod, new_pod, username="alice", namespace="fma")
    verdict.allowed, verdict.messages, verdict.denials
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterable

Obj = dict[str, Any]


@dataclass(frozen=True)
class Denial:
    """One failed validation: which policy, through which binding, why."""
    policy: str
    binding: str
    message: str
    reason: str = "Invalid"  # the validation's ``reason``; the API server's default is Invalid


@dataclass
class Verdict:
    allowed: bool
    messages: list[str] = field(default_factory=list)  # "<policy>: <message>" per denial
    denials: list[Denial] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # from bindings with validationActions Warn


def _celpy() -> Any:
    try:
        import celpy
    except ImportError as exc:  # pragma: no cover - cel-python is a listed dependency
        raise RuntimeError("ValidatingAdmissionPolicy evaluation needs cel-python (pip install cel-python)") from exc
    return celpy


def _join(items: Any, sep: Any = None) -> Any:
    """Kubernetes' strings-extension ``list.join(sep)``."""
    from celpy import celtypes

    return celtypes.StringType(str(sep if sep is not None else "").join(str(i) for i in items))


FUNCTIONS = {"join": _join}


@lru_cache(maxsize=1)
def _env() -> Any:
    return _celpy().Environment()


@lru_cache(maxsize=512)
def _compile(expression: str) -> Any:
    env = _env()
    return env.program(env.compile(expression), functions=FUNCTIONS)


def _run(expression: str, activation: dict[str, Any]) -> Any:
    result = _compile(expression).evaluate(activation)
    if isinstance(result, _celpy().CELEvalError):
        raise result
    return result


def _rule_matches(rules: list[Obj], group: str, version: str, resource: str, op: str, name: str = "") -> bool:
    """``resource`` may carry a subresource (``pods/status``): ``*`` matches only plain resources,
    ``*/*`` everything, ``pods/*`` every subresource of pods, ``*/status`` status of everything."""
    def ok(values: list[str], value: str) -> bool:
        return "*" in values or value in values

    def res_ok(values: list[str]) -> bool:
        if resource in values or "*/*" in values:
            return True
        base, _, sub = resource.partition("/")
        if not sub:
            return "*" in values
        return f"{base}/*" in values or f"*/{sub}" in values

    return any(
        ok(r.get("apiGroups", []), group) and ok(r.get("apiVersions", []), version)
        and res_ok(r.get("resources", [])) and ok(r.get("operations", []), op)
        and (not r.get("resourceNames") or name in r["resourceNames"])
        for r in rules
    )


def selector_matches(selector: Obj | None, labels: dict[str, str]) -> bool:
    """A ``metav1.LabelSelector`` (``matchLabels`` + ``matchExpressions``) against labels; empty matches all."""
    if not selector:
        return True
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for e in selector.get("matchExpressions") or []:
        key, op, values = e.get("key", ""), e.get("operator", ""), e.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            raise ValueError(f"label selector operator {op!r} is not one of In, NotIn, Exists, DoesNotExist")
    return True


def _object_matches(selector: Obj | None, old: Obj | None, new: Obj | None) -> bool:
    """objectSelector holds if either the old or the new object's labels match."""
    if not selector:
        return True
    return any(selector_matches(selector, ((o.get("metadata") or {}).get("labels")) or {})
               for o in (old, new) if o is not None)


def _matches(match: Obj, req: "_Request") -> bool:
    if match.get("resourceRules") and not _rule_matches(match["resourceRules"], *req.rule_key):
        return False
    if match.get("excludeResourceRules") and _rule_matches(match["excludeResourceRules"], *req.rule_key):
        return False
    if req.namespaced and not selector_matches(match.get("namespaceSelector"), req.ns_labels):
        return False
    return _object_matches(match.get("objectSelector"), req.old, req.new)


@dataclass
class _Request:
    rule_key: tuple[str, str, str, str, str]  # group, version, resource[/sub], operation, name
    namespaced: bool
    ns_labels: dict[str, str]
    old: Obj | None
    new: Obj | None


def _policy_denials(policy: Obj, binding: str, activation: dict[str, Any]) -> list[Denial]:
    """Failed validations of one policy ([] = allowed)."""
    from celpy import celtypes

    name = policy["metadata"]["name"]
    spec = policy.get("spec") or {}
    fail_closed = spec.get("failurePolicy", "Fail") == "Fail"
    try:
        for cond in spec.get("matchConditions", []):
            if not bool(_run(cond["expression"], activation)):
                return []
        variables: dict[str, Any] = {}
        activation = dict(activation, variables=celtypes.MapType())
        for var in spec.get("variables", []):
            variables[var["name"]] = _run(var["expression"], activation)
            activation["variables"] = celtypes.MapType(
                {celtypes.StringType(k): v for k, v in variables.items()})
        denials = []
        for rule in spec.get("validations", []):
            if bool(_run(rule["expression"], activation)):
                continue
            message = rule.get("message") or f"failed expression: {rule['expression'].strip()}"
            if rule.get("messageExpression"):
                try:
                    message = str(_run(rule["messageExpression"], activation))
                except Exception:  # noqa: BLE001 - Kubernetes falls back to `message`
                    pass
            denials.append(Denial(name, binding, message, rule.get("reason") or "Invalid"))
        return denials
    except Exception as exc:  # noqa: BLE001 - an evaluation error is judged by failurePolicy
        return [Denial(name, binding, f"evaluation error: {exc}", "Invalid")] if fail_closed else []


def admit(objects: Iterable[Obj], old: Obj | None, new: Obj | None, *,
          username: str, namespace: str, operation: str = "UPDATE", group: str = "",
          version: str = "v1", resource: str = "pods", subresource: str = "",
          namespace_labels: dict[str, str] | None = None, groups: list[str] | None = None,
          namespaced: bool = True, name: str | None = None) -> Verdict:
    """Run every bound policy among ``objects`` on one request; deny if any ``Deny`` binding fails.

    ``old`` is None on CREATE, ``new`` is None on DELETE (as ``oldObject``/``object`` in CEL)."""
    celpy = _celpy()
    objects = list(objects)
    policies = {o["metadata"]["name"]: o for o in objects if o.get("kind") == "ValidatingAdmissionPolicy"}
    bindings = [o for o in objects if o.get("kind") == "ValidatingAdmissionPolicyBinding"]
    ns_labels = dict(namespace_labels or {}, **{"kubernetes.io/metadata.name": namespace})
    subject = new if new is not None else (old or {})
    if name is None:
        name = (subject.get("metadata") or {}).get("name", "")
    full = f"{resource}/{subresource}" if subresource else resource
    req = _Request((group, version, full, operation, name), namespaced, ns_labels, old, new)
    request = {
        "operation": operation, "namespace": namespace, "name": name,
        "userInfo": {"username": username, "groups": list(groups or [])},
        "resource": {"group": group, "version": version, "resource": resource},
        "subResource": subresource,
    }
    activation: dict[str, Any] = {}  # built on the first policy that matches: most writes match none

    def cel_activation() -> dict[str, Any]:
        if not activation:
            activation.update({"object": celpy.json_to_cel(new) if new is not None else None,
                               "oldObject": celpy.json_to_cel(old) if old is not None else None,
                               "request": celpy.json_to_cel(request), "params": None})
        return activation

    verdict = Verdict(allowed=True)
    for binding in bindings:
        spec = binding.get("spec") or {}
        policy = policies.get(spec.get("policyName", ""))
        actions = spec.get("validationActions", [])
        if policy is None or not ({"Deny", "Warn"} & set(actions)):
            continue
        if not _matches(spec.get("matchResources") or {}, req):
            continue
        constraints = (policy.get("spec") or {}).get("matchConstraints") or {}
        if not _rule_matches(constraints.get("resourceRules", []), *req.rule_key) or not _matches(
                {k: v for k, v in constraints.items() if k != "resourceRules"}, req):
            continue
        bname = binding["metadata"]["name"]
        found = _policy_denials(policy, bname, cel_activation())
        if "Deny" in actions:
            verdict.denials += found
            verdict.messages += [f"{d.policy}: {d.message}" for d in found]
        if "Warn" in actions:
            verdict.warnings += [f"Validation failed for ValidatingAdmissionPolicy '{d.policy}' with binding "
                                 f"'{d.binding}': {d.message}" for d in found]
    verdict.allowed = not verdict.denials
    return verdict


@dataclass(frozen=True)
class UserInfo:
    """Who sent a request (``request.userInfo`` in CEL)."""
    username: str
    groups: tuple[str, ...] = ()


ADMIN = UserInfo("admin", ("system:masters", "system:authenticated"))


def service_account(namespace: str, name: str) -> UserInfo:
    return UserInfo(f"system:serviceaccount:{namespace}:{name}",
                    ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"))


def user_from_headers(impersonate: str | None, impersonate_groups: list[str] | None,
                      authorization: str | None) -> UserInfo:
    """The emulator has no authentication: ``Impersonate-User`` (kubectl ``--as``) names the user,
    else a bearer token ``sa:<ns>:<name>`` a service account, else it is ``admin``."""
    if impersonate:
        if impersonate.startswith("system:serviceaccount:") and not impersonate_groups:
            parts = impersonate.split(":")
            if len(parts) == 4:
                return service_account(parts[2], parts[3])
        return UserInfo(impersonate, tuple(impersonate_groups or ()) + ("system:authenticated",))
    token = (authorization or "").strip()
    if token[:7].lower() == "bearer ":
        parts = token[7:].strip().split(":")
        if len(parts) == 3 and parts[0] == "sa" and parts[1] and parts[2]:
            return service_account(parts[1], parts[2])
    return ADMIN
