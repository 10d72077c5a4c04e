"""Kubernetes label selectors (``matchLabels`` + ``matchExpressions``) as predicates."""

from __future__ import annotations

from typing import Any, Callable, Mapping

Labels = Mapping[str, str]
Predicate = Callable[[Labels], bool]
OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


class SelectorError(ValueError):
    """A malformed label selector (the message says which part)."""


def compile_selector(selector: Any) -> Predicate:
    """A predicate over a label map. An empty selector matches everything."""
    if selector is None:
        selector = {}
    if not isinstance(selector, Mapping):
        raise SelectorError(f"labelSelector must be a map, got {type(selector).__name__}")
    unknown = set(selector) - {"matchLabels", "matchExpressions"}
    if unknown:
        raise SelectorError(f"labelSelector has unknown fields {sorted(unknown)}")
    match_labels = selector.get("matchLabels") or {}
    if not isinstance(match_labels, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in match_labels.items()):
        raise SelectorError("labelSelector.matchLabels must map strings to strings")
    tests: list[Predicate] = [
        (lambda labels, k=k, v=v: labels.get(k) == v) for k, v in match_labels.items()
    ]
    exprs = selector.get("matchExpressions") or []
    if not isinstance(exprs, list):
        raise SelectorError("labelSelector.matchExpressions must be a list")
    for i, expr in enumerate(exprs):
        tests.append(_expression(expr, f"labelSelector.matchExpressions[{i}]"))
    return lambda labels: all(t(labels) for t in tests)


def _expression(expr: Any, where: str) -> Predicate:
    if not isinstance(expr, Mapping):
        raise SelectorError(f"{where} must be a map")
    key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
    if not isinstance(key, str) or not key:
        raise SelectorError(f"{where}.key must be a non-empty string")
    if op not in OPERATORS:
        raise SelectorError(f"{where}.operator {op!r} is not one of {', '.join(OPERATORS)}")
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise SelectorError(f"{where}.values must be a list of strings")
    if op in ("In", "NotIn") and not values:
        raise SelectorError(f"{where}: operator {op} needs at least one value")
    if op in ("Exists", "DoesNotExist") and values:
        raise SelectorError(f"{where}: operator {op} takes no values")
    allowed = frozenset(values)
    if op == "In":
        return lambda labels: key in labels and labels[key] in allowed
    if op == "NotIn":
        return lambda labels: key not in labels or labels[key] not in allowed
    if op == "Exists":
        return lambda labels: key in labels
    return lambda labels: key not in labels
