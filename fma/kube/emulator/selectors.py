"""Label and field selectors as the API server parses them (``?labelSelector=``, ``?fieldSelector=``).

Label selector grammar: comma-separated requirements ``k=v``, ``k==v``, ``k!=v``,
``k in (a,b)``, ``k notin (a,b)``, ``k`` (exists) and ``!k`` (does not exist).
Field selectors support ``=``, ``==`` and ``!=`` over dotted paths such as
``metadata.name``, ``metadata.namespace``, ``spec.nodeName`` and ``status.phase``.
"""

from __future__ import annotations

import re
from typing import Any, Callable

Obj = dict[str, Any]
Matcher = Callable[[Obj], bool]


class SelectorError(ValueError):
    """A selector that does not parse (the server answers 400 BadRequest)."""


def _split_top(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    out, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return [p.strip() for p in out if p.strip()]


_SET = re.compile(r"^([A-Za-z0-9._/-]+)\s+(in|notin)\s*\(([^)]*)\)$")
_EQ = re.compile(r"^([A-Za-z0-9._/-]+)\s*(==|=|!=)\s*([A-Za-z0-9._-]*)$")
_KEY = re.compile(r"^(!?)\s*([A-Za-z0-9._/-]+)$")


def parse_label_selector(text: str | None) -> Matcher:
    """A predicate over an object's ``metadata.labels``."""
    if not text:
        return lambda obj: True
    reqs: list[Callable[[dict[str, str]], bool]] = []
    for part in _split_top(text):
        m = _SET.match(part)
        if m:
            key, op, vals = m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",") if v.strip()}
            if op == "in":
                reqs.append(lambda l, k=key, vs=vals: l.get(k) in vs)
            else:
                reqs.append(lambda l, k=key, vs=vals: l.get(k) not in vs)
            continue
        m = _EQ.match(part)
        if m:
            key, op, val = m.groups()
            if op == "!=":
                reqs.append(lambda l, k=key, v=val: l.get(k) != v)
            else:
                reqs.append(lambda l, k=key, v=val: l.get(k) == v)
            continue
        m = _KEY.match(part)
        if m:
            neg, key = m.groups()
            if neg:
                reqs.append(lambda l, k=key: k not in l)
            else:
                reqs.append(lambda l, k=key: k in l)
            continue
        raise SelectorError(f"unable to parse requirement: {part!r}")

    def match(obj: Obj) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(r(labels) for r in reqs)

    return match


def field_value(obj: Obj, path: str) -> str:
    cur: Any = obj
    for p in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(p)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def parse_field_selector(text: str | None, allowed: set[str] | None = None) -> Matcher:
    """A predicate over dotted field paths; ``allowed`` limits the paths (400 otherwise)."""
    if not text:
        return lambda obj: True
    reqs: list[tuple[str, bool, str]] = []
    for part in _split_top(text):
        m = re.match(r"^([A-Za-z0-9._-]+)\s*(==|=|!=)\s*(.*)$", part)
        if not m:
            raise SelectorError(f"invalid selector: {part!r}; can't understand {part!r}")
        path, op, val = m.groups()
        if allowed is not None and path not in allowed:
            raise SelectorError(f'field label not supported: {path}')
        reqs.append((path, op != "!=", val))

    def match(obj: Obj) -> bool:
        return all((field_value(obj, p) == v) == eq for p, eq, v in reqs)

    return match


def match_label_selector_object(selector: Obj | None, labels: dict[str, str]) -> bool:
    """A structured ``{matchLabels, matchExpressions}`` selector (ReplicaSets, LPPs)."""
    if not selector:
        return True
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        k, op, vals = e.get("key"), e.get("operator"), set(e.get("values") or [])
        if op == "In" and labels.get(k) not in vals:
            return False
        if op == "NotIn" and labels.get(k) in vals:
            return False
        if op == "Exists" and k not in labels:
            return False
        if op == "DoesNotExist" and k in labels:
            return False
    return True
