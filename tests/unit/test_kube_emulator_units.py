"""Unit and property tests of the emulator's pure parts: patches, selectors, persistence."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from fma.kube.emulator.patch import PatchError, json_patch, merge_patch, strategic_merge
from fma.kube.emulator.selectors import SelectorError, parse_label_selector

keys = st.sampled_from(["a", "b", "c"])
leaf = st.one_of(st.integers(), st.text(max_size=3))
docs = st.recursive(leaf, lambda inner: st.dictionaries(keys, inner, max_size=3), max_leaves=8)
patches = st.recursive(st.one_of(leaf, st.none()), lambda inner: st.dictionaries(keys, inner, max_size=3),
                       max_leaves=8)


@given(st.dictionaries(keys, docs, max_size=3), st.dictionaries(keys, patches, max_size=3))
def test_merge_patch_is_idempotent(doc: dict, patch: dict) -> None:
    once = merge_patch(doc, patch)
    assert merge_patch(once, patch) == once


@given(st.dictionaries(keys, docs, max_size=3))
def test_json_patch_test_of_the_current_value_always_passes(doc: dict) -> None:
    for k, v in doc.items():
        assert json_patch(doc, [{"op": "test", "path": f"/{k}", "value": v}]) == doc


def test_json_patch_failed_test_raises_422() -> None:
    with pytest.raises(PatchError) as err:
        json_patch({"a": 1}, [{"op": "test", "path": "/a", "value": 2}, {"op": "remove", "path": "/a"}])
    assert err.value.code == 422


def test_strategic_merge_keys_containers_by_name_and_honours_delete() -> None:
    pod = {"spec": {"containers": [{"name": "a", "image": "1", "env": [{"name": "X", "value": "1"}]},
                                   {"name": "b", "image": "2"}]}}
    out = strategic_merge(pod, {"spec": {"containers": [{"name": "a", "env": [{"name": "Y", "value": "2"}]},
                                                        {"name": "b", "$patch": "delete"}]}})
    assert out == {"spec": {"containers": [{"name": "a", "image": "1", "env": [
        {"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]}]}}


@given(st.dictionaries(st.sampled_from(["app", "tier", "x"]), st.sampled_from(["p", "q"]), max_size=3))
def test_label_selector_operators_agree_with_dict_semantics(labels: dict) -> None:
    obj = {"metadata": {"labels": labels}}
    assert parse_label_selector("app=p")(obj) == (labels.get("app") == "p")
    assert parse_label_selector("app!=p")(obj) == (labels.get("app") != "p")
    assert parse_label_selector("app in (p,q)")(obj) == (labels.get("app") in {"p", "q"})
    assert parse_label_selector("app notin (p)")(obj) == (labels.get("app") != "p")
    assert parse_label_selector("tier,!x")(obj) == ("tier" in labels and "x" not in labels)


def test_unparsable_label_selector_is_rejected() -> None:
    with pytest.raises(SelectorError):
        parse_label_selector("app in x")


def test_persisted_objects_survive_an_emulator_restart(tmp_path: Path) -> None:
    from fma.kube import Rest
    from fma.kube.emulator import Emulator

    root = Path(__file__).resolve().parents[2]
    state = str(tmp_path / "state.json")
    with Emulator(port=0, crd_dir=str(root / "crds"), persist=state) as emu:
        api = emu.api_client()
        made = Rest(api).create("configmaps", "default", {"metadata": {"name": "keep"}, "data": {"k": "v"}})
        api.close()
    with Emulator(port=0, crd_dir=str(root / "crds"), persist=state) as emu:
        api = emu.api_client()
        rest = Rest(api)
        got = rest.get("configmaps", "default", "keep")
        assert got["metadata"]["uid"] == made["metadata"]["uid"] and got["data"] == {"k": "v"}
        later = rest.patch("configmaps", "default", "keep", {"data": {"k": "w"}})
        assert int(later["metadata"]["resourceVersion"]) > int(made["metadata"]["resourceVersion"])
        api.close()
