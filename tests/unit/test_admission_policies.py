"""The chart's two ValidatingAdmissionPolicies, evaluated with cel-python (deploy/admission.py).

Cases follow FMA's admission validation script: protected metadata on launchers and bound
requesters is refused to everyone but the controllers' ServiceAccount; other labels,
unbound requesters and plain pods are left alone.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import load_deploy_module

ROOT = Path(__file__).resolve().parents[2]
P = "dual-pods.llm-d.ai/"
NS = "fma-system"
CONTROLLER = f"system:serviceaccount:{NS}:fma-fma-controllers"
USER = "alice@example.com"


_load = load_deploy_module


admission = _load("admission")


def _policies(**values: Any) -> list[dict[str, Any]]:
    from fma.cli.install import render

    objs = render(values, release="fma", namespace=NS, include_crds=False)
    return [o for o in objs if o["kind"].startswith("ValidatingAdmissionPolicy")]


@pytest.fixture(scope="module")
def policies() -> list[dict[str, Any]]:
    return _policies()


def pod(name: str, labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None) -> dict:
    meta: dict[str, Any] = {"name": name, "namespace": NS}
    if labels is not None:
        meta["labels"] = labels
    if annotations is not None:
        meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"containers": [{"name": "inference-server", "image": "x"}]}}


INSTANCE = "I" + "A" * 43 + "i"
LAUNCHER = pod(
    "launcher-lc1-abcde",
    labels={P + "launcher-config-name": "lc1", P + "dual": "req-1", "app.kubernetes.io/component": "launcher"},
    annotations={P + "requester": "uid-1 req-1", P + "instance-id": INSTANCE, P + "server-port": "8005",
                 P + "vllm-config": '{"options":"--model m"}',
                 P + "isc-routing-metadata": '{"labels":{},"annotations":{}}'},
)
BOUND_REQUESTER = pod(
    "req-1", labels={P + "dual": "launcher-lc1-abcde", P + "instance": INSTANCE, "app": "dp"},
    annotations={P + "inference-server-config": "isc-a", P + "admin-port": "8081"},
)
UNBOUND_REQUESTER = pod("req-2", labels={"app": "dp"}, annotations={P + "inference-server-config": "isc-a"})
PLAIN = pod("plain", labels={"app": "web"})


def edit(obj: dict, *, labels: dict[str, str | None] | None = None,
         annotations: dict[str, str | None] | None = None) -> dict:
    """kubectl label/annotate --overwrite: a value sets the key, None removes it."""
    new = copy.deepcopy(obj)
    for field, changes in (("labels", labels), ("annotations", annotations)):
        for k, v in (changes or {}).items():
            m = new["metadata"].setdefault(field, {})
            if v is None:
                m.pop(k, None)
            else:
                m[k] = v
    return new


def verdict(policies: list, old: dict, new: dict, user: str = USER, namespace: str = NS):
    return admission.admit(policies, old, new, username=user, namespace=namespace)


DENIED = [
    ("requester annotation changed on a launcher", LAUNCHER, {"annotations": {P + "requester": "xyz patched"}}),
    ("dual label changed on a launcher", LAUNCHER, {"labels": {P + "dual": "patched-pod"}}),
    ("dual label removed from a launcher", LAUNCHER, {"labels": {P + "dual": None}}),
    ("isc-routing-metadata changed on a launcher", LAUNCHER, {"annotations": {P + "isc-routing-metadata": "x"}}),
    ("instance-id removed from a launcher", LAUNCHER, {"annotations": {P + "instance-id": None}}),
    ("server-port changed", LAUNCHER, {"annotations": {P + "server-port": "9999"}}),
    ("vllm-config changed", LAUNCHER, {"annotations": {P + "vllm-config": "{}"}}),
    ("launcher-config-name label removed", LAUNCHER, {"labels": {P + "launcher-config-name": None}}),
    ("inference-server-config changed on a bound requester", BOUND_REQUESTER,
     {"annotations": {P + "inference-server-config": "patched-config"}}),
    ("inference-server-config removed from a bound requester", BOUND_REQUESTER,
     {"annotations": {P + "inference-server-config": None}}),
    ("dual label changed on a bound requester", BOUND_REQUESTER, {"labels": {P + "dual": "other"}}),
    ("status annotation added to a plain pod", PLAIN, {"annotations": {P + "status": '{"Errors":[]}'}}),
    ("requester annotation added with an empty value", PLAIN, {"annotations": {P + "requester": ""}}),
    ("launcher-config-name label added to a plain pod", PLAIN, {"labels": {P + "launcher-config-name": "lc"}}),
]

ALLOWED = [
    ("an unrelated label on a bound requester", BOUND_REQUESTER, {"labels": {"regular-label": "yes"}}),
    ("an unrelated annotation on a launcher", LAUNCHER, {"annotations": {"note": "hello"}}),
    ("inference-server-config changed on an unbound requester", UNBOUND_REQUESTER,
     {"annotations": {P + "inference-server-config": "new-unbound-config"}}),
    ("a label on an unbound requester", UNBOUND_REQUESTER, {"labels": {"regular-label": "yes"}}),
    ("a label on a plain pod", PLAIN, {"labels": {"regular-label": "yes"}}),
    ("admin-port changed on a bound requester", BOUND_REQUESTER, {"annotations": {P + "admin-port": "9000"}}),
    ("no change at all", LAUNCHER, {}),
]


@pytest.mark.parametrize("what,old,change", DENIED, ids=[d[0] for d in DENIED])
def test_users_cannot_change_controller_owned_metadata(policies, what, old, change) -> None:
    v = verdict(policies, old, edit(old, **change))
    assert not v.allowed, what
    assert v.messages


@pytest.mark.parametrize("what,old,change", DENIED, ids=[d[0] for d in DENIED])
def test_the_controllers_service_account_may_change_everything(policies, what, old, change) -> None:
    assert verdict(policies, old, edit(old, **change), user=CONTROLLER).allowed, what


@pytest.mark.parametrize("what,old,change", ALLOWED, ids=[a[0] for a in ALLOWED])
def test_users_may_change_what_the_controllers_do_not_own(policies, what, old, change) -> None:
    v = verdict(policies, old, edit(old, **change))
    assert v.allowed, (what, v.messages)


def test_denial_message_names_the_pod_and_the_keys(policies) -> None:
    v = verdict(policies, LAUNCHER, edit(LAUNCHER, labels={P + "dual": "x"},
                                         annotations={P + "requester": "y"}))
    text = "\n".join(v.messages)
    assert "fma-immutable-fields:" in text
    assert "launcher-lc1-abcde" in text
    assert f"annotation {P}requester" in text and f"label {P}dual" in text


def test_bound_requester_message_says_to_delete_the_pod(policies) -> None:
    v = verdict(policies, BOUND_REQUESTER, edit(BOUND_REQUESTER, annotations={P + "inference-server-config": "b"}))
    (msg,) = v.messages
    assert msg.startswith("fma-bound-serverreqpod: pod req-1 is bound to launcher-lc1-abcde")
    assert "delete the pod" in msg


def test_another_releases_service_account_is_not_exempt(policies) -> None:
    other = "system:serviceaccount:elsewhere:fma-fma-controllers"
    assert not verdict(policies, LAUNCHER, edit(LAUNCHER, labels={P + "dual": "x"}), user=other).allowed


def test_namespace_scope_leaves_other_namespaces_alone(policies) -> None:
    change = edit(LAUNCHER, labels={P + "dual": "x"})
    assert verdict(policies, LAUNCHER, change, namespace="team-b").allowed


def test_cluster_scope_protects_every_namespace() -> None:
    policies = _policies(admissionPolicies={"scope": "cluster"})
    assert not verdict(policies, LAUNCHER, edit(LAUNCHER, labels={P + "dual": "x"}), namespace="team-b").allowed


def test_extra_exempt_users_may_change_protected_metadata() -> None:
    repair = "system:serviceaccount:ops:fma-repair"
    policies = _policies(admissionPolicies={"extraExemptUsers": [repair]})
    change = edit(BOUND_REQUESTER, annotations={P + "inference-server-config": "b"})
    assert verdict(policies, BOUND_REQUESTER, change, user=repair).allowed
    assert not verdict(policies, BOUND_REQUESTER, change).allowed


def test_disabled_policies_render_nothing() -> None:
    assert _policies(admissionPolicies={"enabled": False}) == []


def test_name_suffix_renames_policies_and_bindings_together() -> None:
    objs = _policies(admissionPolicies={"nameSuffix": "team-a"})
    names = {o["metadata"]["name"] for o in objs}
    assert names == {"fma-immutable-fields-team-a", "fma-bound-serverreqpod-team-a",
                     "bind-fma-immutable-fields-team-a", "bind-fma-bound-serverreqpod-team-a"}
    assert not verdict(objs, LAUNCHER, edit(LAUNCHER, labels={P + "dual": "x"})).allowed


def test_policies_apply_to_pod_updates_only(policies) -> None:
    new = edit(PLAIN, annotations={P + "requester": "u r"})
    assert admission.admit(policies, None, new, username=USER, namespace=NS, operation="CREATE").allowed


# ---- property: the policies deny exactly what CONTRACTS.md A6 says ----

PROTECTED_ANNOTATIONS = [P + k for k in ("requester", "status", "instance-id", "server-port", "vllm-config",
                                          "isc-routing-metadata")]
PROTECTED_LABELS = [P + "dual", P + "launcher-config-name"]
ANNOTATION_KEYS = PROTECTED_ANNOTATIONS + [P + "inference-server-config", P + "admin-port", "note"]
LABEL_KEYS = PROTECTED_LABELS + [P + "instance", "app"]
VALUES = st.one_of(st.none(), st.sampled_from(["", "a", "b"]))  # None = absent


def _meta(keys: list[str]) -> st.SearchStrategy[dict[str, str]]:
    return st.fixed_dictionaries({k: VALUES for k in keys}).map(
        lambda d: {k: v for k, v in d.items() if v is not None})


def expected_denied(old_a: dict, new_a: dict, old_l: dict, new_l: dict) -> bool:
    owned = any(old_a.get(k) != new_a.get(k) for k in PROTECTED_ANNOTATIONS) or any(
        old_l.get(k) != new_l.get(k) for k in PROTECTED_LABELS)
    isc, dual = P + "inference-server-config", P + "dual"
    bound = old_a.get(isc, "") != "" and old_l.get(dual, "") != ""
    rebound = bound and (old_a.get(isc) != new_a.get(isc) or old_l.get(dual) != new_l.get(dual))
    return owned or rebound


@settings(max_examples=150, deadline=None)
@given(old_a=_meta(ANNOTATION_KEYS), new_a=_meta(ANNOTATION_KEYS), old_l=_meta(LABEL_KEYS),
       new_l=_meta(LABEL_KEYS), by_controller=st.booleans())
def test_policies_deny_exactly_the_contracted_changes(policies, old_a, new_a, old_l, new_l, by_controller) -> None:
    old, new = pod("p", old_l or None, old_a or None), pod("p", new_l or None, new_a or None)
    v = verdict(policies, old, new, user=CONTROLLER if by_controller else USER)
    assert v.allowed == (by_controller or not expected_denied(old_a, new_a, old_l, new_l)), v.messages


@pytest.mark.parametrize("failure_policy,allowed", [("Fail", False), ("Ignore", True)])
def test_evaluation_errors_follow_the_failure_policy(policies, failure_policy: str, allowed: bool) -> None:
    broken = copy.deepcopy(policies)
    for o in broken:
        if o["kind"] == "ValidatingAdmissionPolicy":
            o["spec"]["failurePolicy"] = failure_policy
            o["spec"]["validations"][0]["expression"] = "object.metadata.noSuchField == 1"
    v = verdict(broken, PLAIN, edit(PLAIN, labels={"x": "y"}))
    assert v.allowed is allowed
    if not allowed:
        assert all("evaluation error" in m for m in v.messages)
