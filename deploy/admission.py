"""Evaluate ValidatingAdmissionPolicies offline with ``cel-python``, as the API server would.

Enough of Kubernetes' admission semantics to check the chart's two policies without a
cluster: binding and policy match (resource rules, operations, namespace ``matchLabels``),
``matchConditions`` (all must hold, else the policy does not apply), ``variables``
(in order, as ``variables.<name>``), ``validations`` with ``messageExpression``, and
``failurePolicy`` for evaluation errors. CEL functions Kubernetes adds that the
expressions use (``join``) are supplied here.

    verdict = admit(policies_and_bindings, old_pod, new_pod, username="alice", namespace="fma")
    verdict.allowed, verdict.messages
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterable

import celpy
from celpy import celtypes


@dataclass
class Verdict:
    allowed: bool
    messages: list[str] = field(default_factory=list)  # "<policy>: <message>" per denial


def _join(items: celtypes.ListType, sep: celtypes.StringType = celtypes.StringType("")) -> celtypes.StringType:
    """Kubernetes' strings-extension ``list.join(sep)``."""
    return celtypes.StringType(str(sep).join(str(i) for i in items))


FUNCTIONS = {"join": _join}


_ENV = celpy.Environment()


@lru_cache(maxsize=256)
def _compile(expression: str) -> Any:
    return _ENV.program(_ENV.compile(expression), functions=FUNCTIONS)


def _run(expression: str, activation: dict[str, Any]) -> Any:
    result = _compile(expression).evaluate(activation)
    if isinstance(result, celpy.CELEvalError):
        raise result
    return result


def _rule_matches(rules: list[dict[str, Any]], group: str, version: str, resource: str, op: str) -> bool:
    def ok(values: list[str], value: str) -> bool:
        return "*" in values or value in values

    return any(
        ok(r.get("apiGroups", []), group) and ok(r.get("apiVersions", []), version)
        and ok(r.get("resources", []), resource) and ok(r.get("operations", []), op)
        for r in rules
    )


def _namespace_matches(selector: dict[str, Any] | None, namespace_labels: dict[str, str]) -> bool:
    if not selector:
        return True
    if selector.get("matchExpressions"):
        raise NotImplementedError("namespaceSelector.matchExpressions is not emulated")
    return all(namespace_labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


def _policy_verdict(policy: dict[str, Any], activation: dict[str, Any]) -> list[str]:
    """Denial messages of one policy ([] = allowed)."""
    name = policy["metadata"]["name"]
    spec = policy["spec"]
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
                except Exception:  # Kubernetes falls back to `message`
                    pass
            denials.append(f"{name}: {message}")
        return denials
    except Exception as exc:
        return [f"{name}: evaluation error: {exc}"] if fail_closed else []


def admit(objects: Iterable[dict[str, Any]], old: dict[str, Any] | None, new: dict[str, Any], *,
          username: str, namespace: str, operation: str = "UPDATE", group: str = "",
          version: str = "v1", resource: str = "pods",
          namespace_labels: dict[str, str] | None = None) -> Verdict:
    """Run every bound policy among ``objects`` on one request; deny if any denies."""
    objects = list(objects)
    policies = {o["metadata"]["name"]: o for o in objects if o.get("kind") == "ValidatingAdmissionPolicy"}
    bindings = [o for o in objects if o.get("kind") == "ValidatingAdmissionPolicyBinding"]
    ns_labels = dict(namespace_labels or {}, **{"kubernetes.io/metadata.name": namespace})
    request = {
        "operation": operation, "namespace": namespace, "name": new.get("metadata", {}).get("name", ""),
        "userInfo": {"username": username},
        "resource": {"group": group, "version": version, "resource": resource},
    }
    activation = {
        "object": celpy.json_to_cel(new),
        "oldObject": celpy.json_to_cel(old) if old is not None else None,
        "request": celpy.json_to_cel(request),
        "params": None,
    }
    messages: list[str] = []
    for binding in bindings:
        spec = binding["spec"]
        policy = policies.get(spec["policyName"])
        if policy is None or "Deny" not in spec.get("validationActions", []):
            continue
        match = spec.get("matchResources") or {}
        if match.get("resourceRules") and not _rule_matches(match["resourceRules"], group, version,
                                                              resource, operation):
            continue
        if not _namespace_matches(match.get("namespaceSelector"), ns_labels):
            continue
        constraints = policy["spec"].get("matchConstraints") or {}
        if not _rule_matches(constraints.get("resourceRules", []), group, version, resource, operation):
            continue
        messages += _policy_verdict(policy, activation)
    return Verdict(allowed=not messages, messages=messages)
