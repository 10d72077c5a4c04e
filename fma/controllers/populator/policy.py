"""LauncherPopulationPolicies: which nodes they select, and the desired launcher counts.

Desired launchers for a (node, LauncherConfig) pair = the maximum ``launcherCount`` over
every policy whose label selector and allocatable-resource ranges (inclusive) match the
node. A policy with a malformed part matches no node and carries the errors, which the
populator writes into the policy's status.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Iterable, Mapping

from fma.controllers.populator.quantity import QuantityError, parse_quantity
from fma.controllers.populator.selector import Labels, SelectorError, compile_selector

Obj = dict[str, Any]
PairKey = tuple[str, str]  # (node name, LauncherConfig name)


@dataclass(frozen=True)
class Range:
    """An inclusive range of a node's allocatable resource; ``None`` = unbounded."""

    min: Fraction | None = None
    max: Fraction | None = None

    def holds(self, value: Fraction) -> bool:
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)


@dataclass(frozen=True)
class Policy:
    name: str
    counts: Mapping[str, int]
    ranges: Mapping[str, Range] = field(default_factory=dict)
    errors: tuple[str, ...] = ()
    generation: int = 0
    _match: Any = field(default=None, compare=False, repr=False)

    def matches(self, node: "NodeView") -> bool:
        if self.errors or self._match is None or not self._match(node.labels):
            return False
        for resource, rng in self.ranges.items():
            have = node.allocatable.get(resource)
            if have is None or not rng.holds(have):
                return False
        return True


@dataclass(frozen=True)
class NodeView:
    name: str
    labels: Labels
    allocatable: Mapping[str, Fraction]
    errors: tuple[str, ...] = ()


def node_view(node: Obj) -> NodeView:
    md = node.get("metadata") or {}
    alloc: dict[str, Fraction] = {}
    errors = []
    for res, q in ((node.get("status") or {}).get("allocatable") or {}).items():
        try:
            alloc[res] = parse_quantity(q)
        except QuantityError as exc:
            errors.append(f"allocatable {res}: {exc}")
    return NodeView(md.get("name", ""), dict(md.get("labels") or {}), alloc, tuple(errors))


def parse_policy(obj: Obj) -> Policy:
    """A policy from a LauncherPopulationPolicy object; problems go into ``errors``."""
    md = obj.get("metadata") or {}
    name = md.get("name", "")
    spec = obj.get("spec") or {}
    errors: list[str] = []
    ens = spec.get("enhancedNodeSelector")
    match = None
    ranges: dict[str, Range] = {}
    if not isinstance(ens, Mapping):
        errors.append("spec.enhancedNodeSelector is required")
    else:
        try:
            match = compile_selector(ens.get("labelSelector"))
        except SelectorError as exc:
            errors.append(f"spec.enhancedNodeSelector: invalid label selector: {exc}")
        for res, rng in (ens.get("allocatableResources") or {}).items():
            try:
                ranges[res] = _range(rng)
            except (QuantityError, ValueError) as exc:
                errors.append(f"spec.enhancedNodeSelector.allocatableResources[{res}]: {exc}")
    counts: dict[str, int] = {}
    entries = spec.get("countForLauncher")
    if not isinstance(entries, list):
        errors.append("spec.countForLauncher must be a list")
        entries = []
    for i, entry in enumerate(entries):
        lc = (entry or {}).get("launcherConfigName") if isinstance(entry, Mapping) else None
        n = (entry or {}).get("launcherCount") if isinstance(entry, Mapping) else None
        where = f"spec.countForLauncher[{i}]"
        if not isinstance(lc, str) or not lc:
            errors.append(f"{where}.launcherConfigName must be a non-empty string")
        elif not isinstance(n, int) or isinstance(n, bool) or n < 0:
            errors.append(f"{where}.launcherCount must be an integer >= 0, got {n!r}")
        elif lc in counts:
            errors.append(f"{where}: launcherConfigName {lc!r} is listed twice")
        else:
            counts[lc] = n
    return Policy(name, counts, ranges, tuple(errors), int(md.get("generation") or 0), match)


def _range(raw: Any) -> Range:
    if not isinstance(raw, Mapping):
        raise ValueError("must be a map with min and/or max")
    lo = parse_quantity(raw["min"]) if raw.get("min") is not None else None
    hi = parse_quantity(raw["max"]) if raw.get("max") is not None else None
    if lo is not None and hi is not None and lo > hi:
        raise ValueError(f"min {raw['min']!r} is above max {raw['max']!r}")
    return Range(lo, hi)


def desired_counts(policies: Iterable[Policy], nodes: Iterable[NodeView]) -> dict[PairKey, int]:
    """Max over matching policies, per (node, LauncherConfig); pairs no policy names are absent."""
    out: dict[PairKey, int] = {}
    policies = list(policies)
    for node in nodes:
        for pol in policies:
            if not pol.matches(node):
                continue
            for lc, n in pol.counts.items():
                key = (node.name, lc)
                if n > out.get(key, -1):
                    out[key] = n
    return out
