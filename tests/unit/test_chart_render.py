"""The fma-controllers chart: helm lint and helm template (Helm 4 SDK via helm-python-sdk)
with default and non-default values; every rendered object validated (kubernetes-validate,
strict) and the contract of CONTRACTS.md A6 checked on the objects themselves."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

helm = pytest.importorskip("helm_python", reason="helm-python-sdk (Helm 4 SDK) is not installed")

from fma.cli.install import default_chart_dir, render  # noqa: E402

from tests.support import load_deploy_module

ROOT = Path(__file__).resolve().parents[2]
CHART = default_chart_dir()
NS = "fma-system"


_load = load_deploy_module


validate = _load("validate")

# A values file as FMA's own install script would pass it (FMA-only keys included).
FMA_VALUES = {
    "global": {"imageRegistry": "registry.example.com/fma", "imageTag": "v9.9.9",
               "nodeViewClusterRole": "node-viewer", "local": True, "produceCoverdata": False,
               "coverdataInspectorImage": "busybox:1.38.0"},
    "dualPodsController": {"enabled": True, "sleeperLimit": 5, "debugAcceleratorMemory": True},
    "launcherPopulator": {"enabled": True, "pullPolicy": "Always", "replicaCount": 3,
                          "resources": {"limits": {"cpu": 4, "memory": "4Gi"},
                                        "requests": {"cpu": "200m", "memory": "256Mi"}}},
}
OURS = {
    "logLevel": "DEBUG",
    "dualPodsController": {"hostMemoryBudget": "64Gi", "extraArgs": ["--example-flag=1"]},
    "debugSocket": {"enabled": False},
    "leaderElection": {"enabled": False},
    "metrics": {"port": 9102, "serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}},
    "admissionPolicies": {"scope": "cluster", "nameSuffix": "x"},
    "imagePullSecrets": [{"name": "regcred"}],
    "nodeSelector": {"node-role.kubernetes.io/control-plane": ""},
    "tolerations": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}],
}


def merged(*parts: dict) -> dict:
    from fma.cli.install import deep_merge

    out: dict = {}
    for p in parts:
        out = deep_merge(out, p)
    return out


def by_kind(objs: list[dict], kind: str) -> list[dict]:
    return [o for o in objs if o["kind"] == kind]


def one(objs: list[dict], kind: str, name_part: str = "") -> dict:
    found = [o for o in by_kind(objs, kind) if name_part in o["metadata"]["name"]]
    assert len(found) == 1, f"{kind} *{name_part}*: {[o['metadata']['name'] for o in found]}"
    return found[0]


def container(deploy: dict) -> dict:
    (c,) = deploy["spec"]["template"]["spec"]["containers"]
    return c


@pytest.fixture(scope="module")
def default_objs() -> list[dict]:
    return render({}, release="fma", namespace=NS)


@pytest.fixture(scope="module")
def custom_objs() -> list[dict]:
    return render(merged(FMA_VALUES, OURS), release="prod", namespace="serving")


# ---- helm lint ----

@pytest.mark.parametrize("values", [{}, FMA_VALUES, merged(FMA_VALUES, OURS)], ids=["default", "fma", "ours"])
def test_helm_lint_reports_no_warning_or_error(values: dict) -> None:
    report = helm.lint(str(CHART), values, strict=True, namespace=NS, kube_version="v1.30.0")
    serious = [m for m in report["messages"] if m["severity"] >= 2]
    assert not report["errors"] and not serious, report


def test_chart_metadata_names_fma_controllers() -> None:
    with helm.Chart.load(str(CHART)) as chart:
        assert chart.name == "fma-controllers"
        assert chart.metadata["appVersion"] == __import__("fma").__version__


def test_fma_values_keep_fmas_defaults() -> None:
    with helm.Chart.load(str(CHART)) as chart:
        v = chart.values
    assert set(v["global"]) >= {"imageRegistry", "imageTag", "nodeViewClusterRole", "local"}
    assert v["dualPodsController"] == v["dualPodsController"] | {
        "enabled": True, "sleeperLimit": 2, "debugAcceleratorMemory": False}
    assert {"enabled", "replicaCount", "resources"} <= set(v["launcherPopulator"])
    assert v["metrics"]["port"] == 8002


# ---- every rendered object is valid ----

@pytest.mark.parametrize("k8s", ["1.30.0", "latest"])
@pytest.mark.parametrize("which", ["default_objs", "custom_objs"])
def test_every_rendered_object_passes_strict_schema_validation(request, which: str, k8s: str) -> None:
    import kubernetes_validate

    version = kubernetes_validate.latest_version() if k8s == "latest" else k8s
    objs = request.getfixturevalue(which)
    problems = validate.validate_objects([("chart", o) for o in objs], k8s_version=version)
    assert problems == []


def test_rendered_names_are_unique_per_kind(custom_objs) -> None:
    keys = [(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in custom_objs]
    assert len(keys) == len(set(keys))


def test_namespaced_objects_are_in_the_release_namespace(custom_objs) -> None:
    cluster_scoped = {"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding",
                      "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}
    for o in custom_objs:
        if o["kind"] not in cluster_scoped:
            assert o["metadata"].get("namespace") == "serving", o["metadata"]["name"]


# ---- the contract (CONTRACTS.md A6) ----

def test_service_account_is_release_fma_controllers(default_objs) -> None:
    sa = one(default_objs, "ServiceAccount")
    assert sa["metadata"]["name"] == "fma-fma-controllers"
    for d in by_kind(default_objs, "Deployment"):
        assert d["spec"]["template"]["spec"]["serviceAccountName"] == "fma-fma-controllers"


def _allowed(rules: list[dict], group: str, resource: str, verb: str) -> bool:
    return any(group in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"] for r in rules)


def test_role_grants_what_the_controllers_need(default_objs) -> None:
    rules = one(default_objs, "Role")["rules"]
    for res in ("inferenceserverconfigs", "launcherconfigs", "launcherpopulationpolicies"):
        for verb in ("get", "list", "watch"):
            assert _allowed(rules, "fma.llm-d.ai", res, verb)
        for verb in ("patch", "update"):
            assert _allowed(rules, "fma.llm-d.ai", f"{res}/status", verb)
        assert not _allowed(rules, "fma.llm-d.ai", res, "delete")
    for verb in ("get", "list", "watch"):
        assert _allowed(rules, "", "configmaps", verb)
    assert not _allowed(rules, "", "configmaps", "update")
    for verb in ("get", "list", "watch", "create", "update", "patch", "delete"):
        assert _allowed(rules, "", "pods", verb)
    for verb in ("create", "patch"):
        assert _allowed(rules, "", "events", verb)
    for verb in ("get", "create", "update"):
        assert _allowed(rules, "coordination.k8s.io", "leases", verb)


def test_role_binding_binds_the_role_to_the_service_account(default_objs) -> None:
    rb = one(default_objs, "RoleBinding")
    assert rb["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                             "name": "fma-fma-controllers"}
    assert rb["subjects"] == [{"kind": "ServiceAccount", "name": "fma-fma-controllers", "namespace": NS}]


def test_node_view_role_is_created_by_default(default_objs) -> None:
    cr = one(default_objs, "ClusterRole")
    assert _allowed(cr["rules"], "", "nodes", "list") and len(cr["rules"]) == 1
    crb = one(default_objs, "ClusterRoleBinding")
    assert crb["roleRef"]["name"] == cr["metadata"]["name"]


def test_named_node_view_cluster_role_is_bound_not_created(custom_objs) -> None:
    assert by_kind(custom_objs, "ClusterRole") == []
    crb = one(custom_objs, "ClusterRoleBinding")
    assert crb["roleRef"]["name"] == "node-viewer"
    assert crb["subjects"] == [{"kind": "ServiceAccount", "name": "prod-fma-controllers", "namespace": "serving"}]


def test_no_node_view_when_neither_named_nor_created() -> None:
    objs = render({"nodeView": {"create": False}}, release="fma", namespace=NS)
    assert by_kind(objs, "ClusterRole") == [] and by_kind(objs, "ClusterRoleBinding") == []


def test_controller_deployment_runs_fma_controller_with_defaults(default_objs) -> None:
    d = one(default_objs, "Deployment", "dual-pods-controller")
    assert d["spec"]["replicas"] == 1
    c = container(d)
    assert c["command"] == ["fma"]
    assert c["args"][:2] == ["--log-level=INFO", "controller"]
    assert {f"--namespace={NS}", "--metrics-port=8002", "--sleeper-limit=2", "--leader-elect",
            "--debug-socket=ipc:///var/run/fma/debug.sock"} <= set(c["args"])
    assert not any(a.startswith(("--host-memory-budget", "--debug-accelerator-memory")) for a in c["args"])
    assert c["image"] == "ghcr.io/llm-d-incubation/fma-py/fma-controllers:0.1.0"
    assert c["imagePullPolicy"] == "IfNotPresent"
    assert {"name": "metrics", "containerPort": 8002, "protocol": "TCP"} in c["ports"]


def test_populator_deployment_runs_fma_populator_with_defaults(default_objs) -> None:
    d = one(default_objs, "Deployment", "launcher-populator")
    c = container(d)
    assert c["args"][:2] == ["--log-level=INFO", "populator"]
    assert {"--stuck-scheduling-threshold=2m", "--stuck-starting-threshold=7m30s", "--leader-elect",
            "--metrics-port=8002"} <= set(c["args"])
    assert c["resources"]["limits"] == {"cpu": "2", "memory": "2Gi"}


def test_non_default_values_reach_the_commands(custom_objs) -> None:
    ctl = container(one(custom_objs, "Deployment", "dual-pods-controller"))
    assert ctl["args"][:2] == ["--log-level=DEBUG", "controller"]
    assert {"--namespace=serving", "--sleeper-limit=5", "--host-memory-budget=64Gi",
            "--debug-accelerator-memory", "--metrics-port=9102", "--example-flag=1"} <= set(ctl["args"])
    assert not any(a.startswith(("--leader-elect", "--debug-socket")) for a in ctl["args"])
    assert ctl["image"] == "registry.example.com/fma/fma-controllers:v9.9.9"
    assert ctl["imagePullPolicy"] == "Never"  # global.local
    pop_d = one(custom_objs, "Deployment", "launcher-populator")
    assert pop_d["spec"]["replicas"] == 3
    pop = container(pop_d)
    assert pop["imagePullPolicy"] == "Never"
    assert pop["resources"]["limits"] == {"cpu": 4, "memory": "4Gi"}
    spec = pop_d["spec"]["template"]["spec"]
    assert spec["imagePullSecrets"] == [{"name": "regcred"}]
    assert spec["tolerations"][0]["effect"] == "NoSchedule"


def test_leases_are_not_granted_without_leader_election(custom_objs) -> None:
    assert not _allowed(one(custom_objs, "Role")["rules"], "coordination.k8s.io", "leases", "get")


def test_disabled_controllers_render_no_deployment_or_service() -> None:
    objs = render({"dualPodsController": {"enabled": False}}, release="fma", namespace=NS)
    assert [d["metadata"]["name"] for d in by_kind(objs, "Deployment")] == ["fma-launcher-populator"]
    assert [s["metadata"]["name"] for s in by_kind(objs, "Service")] == ["fma-launcher-populator-metrics"]
    objs = render({"launcherPopulator": {"enabled": False}, "dualPodsController": {"enabled": False}},
                  release="fma", namespace=NS)
    assert by_kind(objs, "Deployment") == [] and by_kind(objs, "Service") == []


def test_metrics_services_select_their_deployments_pods(default_objs) -> None:
    for svc in by_kind(default_objs, "Service"):
        component = svc["metadata"]["labels"]["app.kubernetes.io/component"]
        d = one(default_objs, "Deployment", component)
        labels = d["spec"]["template"]["metadata"]["labels"]
        assert svc["spec"]["selector"].items() <= labels.items()
        assert svc["spec"]["ports"][0]["targetPort"] in {p["name"] for p in container(d)["ports"]}


def test_service_monitor_is_optional_and_selects_the_metrics_services(default_objs, custom_objs) -> None:
    assert by_kind(default_objs, "ServiceMonitor") == []
    sm = one(custom_objs, "ServiceMonitor")
    assert sm["metadata"]["labels"]["release"] == "prom"
    for svc in by_kind(custom_objs, "Service"):
        assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    assert sm["spec"]["endpoints"][0]["port"] == "metrics"


def test_controllers_run_unprivileged(default_objs) -> None:
    for d in by_kind(default_objs, "Deployment"):
        pod = d["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        sc = container(d)["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
        assert sc["capabilities"]["drop"] == ["ALL"]


def test_debug_socket_lives_in_a_mounted_emptydir(default_objs) -> None:
    for d in by_kind(default_objs, "Deployment"):
        vols = {v["name"]: v for v in d["spec"]["template"]["spec"]["volumes"]}
        assert vols["debug-socket"] == {"name": "debug-socket", "emptyDir": {}}
        mounts = {m["name"]: m["mountPath"] for m in container(d)["volumeMounts"]}
        assert mounts["debug-socket"] == "/var/run/fma"


def test_admission_policies_ship_with_bindings(default_objs) -> None:
    vaps = {o["metadata"]["name"]: o for o in by_kind(default_objs, "ValidatingAdmissionPolicy")}
    assert set(vaps) == {"fma-immutable-fields", "fma-bound-serverreqpod"}
    for b in by_kind(default_objs, "ValidatingAdmissionPolicyBinding"):
        assert b["spec"]["policyName"] in vaps
        assert b["spec"]["validationActions"] == ["Deny"]
    for vap in vaps.values():
        assert vap["spec"]["failurePolicy"] == "Fail"
        assert vap["spec"]["matchConstraints"]["resourceRules"][0]["operations"] == ["UPDATE"]
        assert "system:serviceaccount:fma-system:fma-fma-controllers" in vap["spec"]["matchConditions"][0]["expression"]


@pytest.mark.parametrize("values,needle", [
    ({"dualPodsController": {"sleeperLimit": "two"}}, "sleeperLimit"),
    ({"notAKey": 1}, "notAKey"),
    ({"admissionPolicies": {"scope": "everywhere"}}, "scope"),
    ({"metrics": {"port": 70000}}, "port"),
    ({"launcherPopulator": {"stuckStartingThreshold": "soon"}}, "stuckStartingThreshold"),
    ({"admissionPolicies": {"extraExemptUsers": ['x"] || true || ["']}}, "extraExemptUsers"),
], ids=["type", "unknown-key", "enum", "range", "duration", "cel-injection"])
def test_bad_values_are_rejected_with_the_key_named(values: dict, needle: str) -> None:
    from fma.cli.install import RenderError

    with pytest.raises(RenderError, match=needle):
        render(values, release="fma", namespace=NS)


def test_values_yaml_and_schema_agree_on_defaults() -> None:
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    with helm.Chart.load(str(CHART)) as chart:
        chart.validate_schema(defaults)
        assert chart.schema is not None


# ---- CRDs ----

def test_chart_crds_are_identical_to_the_repository_crds() -> None:
    sync = _load("sync_crds")
    assert sync.differences() == [], "run: python deploy/sync_crds.py"


def test_rendered_install_starts_with_the_crds(default_objs) -> None:
    repo_crds = sorted((ROOT / "crds").glob("fma.llm-d.ai_*.yaml"))
    if not repo_crds:
        pytest.skip("crds/ holds no CRD yet")
    crds = by_kind(default_objs, "CustomResourceDefinition")
    assert len(crds) == len(repo_crds)
    assert [o["kind"] for o in default_objs[: len(crds)]] == ["CustomResourceDefinition"] * len(crds)
    assert {c["spec"]["group"] for c in crds} == {"fma.llm-d.ai"}


# ---- the rendered commands are ones the fma CLI accepts ----

@pytest.mark.parametrize("component,subcommand", [("dual-pods-controller", "controller"),
                                                  ("launcher-populator", "populator")])
@pytest.mark.parametrize("which", ["default_objs", "custom_objs"])
def test_rendered_command_is_accepted_by_the_fma_cli(request, which: str, component: str, subcommand: str) -> None:
    from fma.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    if subcommand not in sub.choices:
        pytest.skip(f"`fma {subcommand}` is not implemented yet")
    c = container(one(request.getfixturevalue(which), "Deployment", component))
    args = [a for a in c["args"] if a != "--example-flag=1"]  # extraArgs are the user's business
    assert c["command"] == ["fma"]
    try:
        parsed = parser.parse_args(args)
    except SystemExit as exc:  # argparse already printed which flag it refused
        pytest.fail(f"`fma {' '.join(args)}` is refused by the CLI (exit {exc.code})")
    assert parsed.command == subcommand
