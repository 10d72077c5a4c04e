"""Policy matching: label selectors, allocatable-resource ranges with Kubernetes
quantities, several policies -> max; and malformed policies match nothing but say why."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest

from fma.controllers.populator.policy import desired_counts, node_view, parse_policy
from fma.controllers.populator.quantity import QuantityError, parse_quantity
from fma.controllers.populator.selector import SelectorError, compile_selector


def node(name: str, labels: dict[str, str] | None = None, **alloc: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels or {}},
            "status": {"allocatable": {k.replace("__", "/").replace("_", "."): v for k, v in alloc.items()}}}


def lpp(name: str, counts: dict[str, int], labels: dict[str, str] | None = None,
        exprs: list[dict[str, Any]] | None = None, resources: dict[str, Any] | None = None) -> dict[str, Any]:
    sel: dict[str, Any] = {}
    if labels is not None:
        sel["matchLabels"] = labels
    if exprs is not None:
        sel["matchExpressions"] = exprs
    ens: dict[str, Any] = {"labelSelector": sel}
    if resources is not None:
        ens["allocatableResources"] = resources
    return {"metadata": {"name": name, "generation": 3},
            "spec": {"enhancedNodeSelector": ens,
                     "countForLauncher": [{"launcherConfigName": k, "launcherCount": v} for k, v in counts.items()]}}


@pytest.mark.parametrize("text,value", [
    ("8", 8), ("0", 0), ("500m", Fraction(1, 2)), ("1.5", Fraction(3, 2)), ("64Gi", 64 * 2**30),
    ("1Ki", 1024), ("2k", 2000), ("3M", 3 * 10**6), ("1e3", 1000), ("1E-3", Fraction(1, 1000)),
    ("+4", 4), ("-2", -2), (".5", Fraction(1, 2)), ("100n", Fraction(1, 10**7)), ("7u", Fraction(7, 10**6)),
    (7, 7), (2.5, Fraction(5, 2)), ("1Ei", 2**60), ("1.5Gi", 3 * 2**29),
])
def test_quantities_parse_exactly(text: Any, value: Any) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("bad", ["", "abc", "1.2.3", "5 Gi", "1Kb", "Gi", True, None, [1], float("nan")])
def test_bad_quantity_is_refused_with_its_text(bad: Any) -> None:
    with pytest.raises(QuantityError, match="not a quantity"):
        parse_quantity(bad)


def test_selector_match_labels_and_every_operator() -> None:
    sel = compile_selector({"matchLabels": {"gpu": "true"}, "matchExpressions": [
        {"key": "zone", "operator": "In", "values": ["a", "b"]},
        {"key": "tier", "operator": "NotIn", "values": ["dev"]},
        {"key": "nvidia.com/gpu.product", "operator": "Exists"},
        {"key": "cordon", "operator": "DoesNotExist"},
    ]})
    base = {"gpu": "true", "zone": "a", "nvidia.com/gpu.product": "H100"}
    assert sel(base)
    assert sel({**base, "tier": "prod"})
    assert not sel({**base, "tier": "dev"})
    assert not sel({**base, "zone": "c"})
    assert not sel({k: v for k, v in base.items() if k != "nvidia.com/gpu.product"})
    assert not sel({**base, "cordon": ""})
    assert not sel({**base, "gpu": "false"})


def test_empty_selector_matches_every_node() -> None:
    assert compile_selector({})({}) and compile_selector(None)({"a": "b"})


@pytest.mark.parametrize("sel,msg", [
    ({"matchExpressions": [{"key": "a", "operator": "Near"}]}, "operator 'Near'"),
    ({"matchExpressions": [{"key": "a", "operator": "In"}]}, "needs at least one value"),
    ({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}, "takes no values"),
    ({"matchLabels": {"a": 1}}, "strings to strings"),
    ({"matchFields": {}}, "unknown fields"),
    ("gpu=true", "must be a map"),
])
def test_malformed_selector_says_what_is_wrong(sel: Any, msg: str) -> None:
    with pytest.raises(SelectorError, match=msg):
        compile_selector(sel)


GPU8 = node("n8", {"gpu": "true"}, nvidia_com__gpu="8", memory="512Gi")
GPU2 = node("n2", {"gpu": "true"}, nvidia_com__gpu="2", memory="64Gi")
CPU = node("c1", {"gpu": "false"}, memory="32Gi")
NODES = [node_view(n) for n in (GPU8, GPU2, CPU)]


@pytest.mark.parametrize("rng,want", [
    ({"min": "4"}, {"n8"}),
    ({"max": "2"}, {"n2"}),
    ({"min": 2, "max": "8"}, {"n8", "n2"}),
    ({"min": "3", "max": "7"}, set()),
    ({}, {"n8", "n2"}),
    ({"min": "8", "max": "8"}, {"n8"}),
], ids=["min-only", "max-only", "both-inclusive", "both-excluding", "none", "exact"])
def test_resource_ranges_are_inclusive(rng: dict[str, Any], want: set[str]) -> None:
    pol = parse_policy(lpp("p", {"lc": 1}, resources={"nvidia.com/gpu": rng}))
    assert not pol.errors
    assert {n for (n, _), c in desired_counts([pol], NODES).items()} == want


def test_node_without_the_resource_does_not_match_a_range() -> None:
    pol = parse_policy(lpp("p", {"lc": 1}, resources={"nvidia.com/gpu": {"min": "0"}}))
    assert ("c1", "lc") not in desired_counts([pol], NODES)


def test_memory_range_compares_quantities_not_strings() -> None:
    pol = parse_policy(lpp("p", {"lc": 1}, resources={"memory": {"min": "100G"}}))
    assert set(desired_counts([pol], NODES)) == {("n8", "lc")}


def test_several_policies_give_the_maximum_per_pair() -> None:
    pols = [parse_policy(lpp("a", {"lc": 1, "other": 4}, labels={"gpu": "true"})),
            parse_policy(lpp("b", {"lc": 3}, resources={"nvidia.com/gpu": {"min": "4"}})),
            parse_policy(lpp("c", {"lc": 2}))]
    got = desired_counts(pols, NODES)
    assert got == {("n8", "lc"): 3, ("n8", "other"): 4, ("n2", "lc"): 2, ("n2", "other"): 4, ("c1", "lc"): 2}


def test_zero_count_is_a_desired_zero() -> None:
    got = desired_counts([parse_policy(lpp("a", {"lc": 0}))], NODES)
    assert got[("n8", "lc")] == 0


def test_label_selector_policy_selects_by_labels() -> None:
    pol = parse_policy(lpp("p", {"lc": 1}, exprs=[{"key": "gpu", "operator": "In", "values": ["true"]}]))
    assert {n for n, _ in desired_counts([pol], NODES)} == {"n8", "n2"}


@pytest.mark.parametrize("mutate,msg", [
    (lambda s: s["enhancedNodeSelector"].update(labelSelector={"matchExpressions": [{"key": "a", "operator": "Bad"}]}),
     "invalid label selector"),
    (lambda s: s["enhancedNodeSelector"].update(allocatableResources={"memory": {"min": "lots"}}),
     "allocatableResources[memory]"),
    (lambda s: s["enhancedNodeSelector"].update(allocatableResources={"cpu": {"min": "4", "max": "2"}}),
     "is above max"),
    (lambda s: s["countForLauncher"].append({"launcherConfigName": "lc", "launcherCount": 2}), "listed twice"),
    (lambda s: s["countForLauncher"].append({"launcherConfigName": "x", "launcherCount": -1}), "integer >= 0"),
    (lambda s: s.pop("enhancedNodeSelector"), "enhancedNodeSelector is required"),
], ids=["selector", "quantity", "min-above-max", "duplicate-lc", "negative", "no-selector"])
def test_malformed_policy_matches_nothing_and_says_why(mutate: Any, msg: str) -> None:
    obj = lpp("bad", {"lc": 1})
    mutate(obj["spec"])
    pol = parse_policy(obj)
    assert any(msg in e for e in pol.errors), pol.errors
    assert desired_counts([pol], NODES) == {}


def test_node_view_reads_labels_and_allocatable() -> None:
    v = node_view(GPU8)
    assert v.name == "n8" and v.labels == {"gpu": "true"}
    assert v.allocatable == {"nvidia.com/gpu": 8, "memory": 512 * 2**30}
