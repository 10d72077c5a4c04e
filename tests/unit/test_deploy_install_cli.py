"""`fma install --render`: one YAML stream, CRDs first, values as `helm install` takes them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from fma.cli import main
from fma.cli.install import RenderError, collect_values, render, to_yaml_stream

pytest.importorskip("helm_python", reason="helm-python-sdk (Helm 4 SDK) is not installed")


def run(capsys, *argv: str) -> tuple[int, list[dict], str]:
    rc = main(["install", *argv])
    out, err = capsys.readouterr()
    docs = [d for d in yaml.safe_load_all(out) if d] if rc == 0 and out else []
    return rc, docs, err


def test_render_prints_every_object_for_kubectl_apply(capsys) -> None:
    rc, docs, _ = run(capsys, "--render", "-n", "fma")
    assert rc == 0
    kinds = [d["kind"] for d in docs]
    assert {"ServiceAccount", "Role", "RoleBinding", "Deployment", "Service",
            "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"} <= set(kinds)
    assert kinds.index("ServiceAccount") < kinds.index("Deployment") < kinds.index("ValidatingAdmissionPolicy")
    assert kinds[-1] == "ValidatingAdmissionPolicyBinding"


def test_create_namespace_puts_the_namespace_first(capsys) -> None:
    rc, docs, _ = run(capsys, "--render", "-n", "serving", "--create-namespace")
    assert rc == 0
    assert docs[0] == {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "serving"}}


def test_values_files_then_set_win_in_helm_order(capsys, tmp_path: Path) -> None:
    a = tmp_path / "a.yaml"
    a.write_text("dualPodsController: {sleeperLimit: 3}\nlogLevel: DEBUG\n")
    b = tmp_path / "b.yaml"
    b.write_text("dualPodsController: {sleeperLimit: 4}\n")
    rc, docs, _ = run(capsys, "--render", "-f", str(a), "--values", str(b),
                      "--set", "dualPodsController.hostMemoryBudget=1000000", "--release", "r1")
    assert rc == 0
    ctl = next(d for d in docs if d["kind"] == "Deployment" and "dual-pods" in d["metadata"]["name"])
    args = ctl["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--sleeper-limit=4" in args and "--log-level=DEBUG" in args
    assert "--host-memory-budget=1000000" in args
    assert ctl["metadata"]["name"] == "r1-dual-pods-controller"


def test_set_string_keeps_strings() -> None:
    values = collect_values(sets=["global.imageTag=1.0"], set_strings=["global.imageTag=2.0"])
    assert values == {"global": {"imageTag": "2.0"}}
    assert collect_values(sets=["a.b=1,c={x,y}"]) == {"a": {"b": 1}, "c": ["x", "y"]}


def test_skip_flags_leave_crds_and_policies_out(capsys) -> None:
    rc, docs, _ = run(capsys, "--render", "--skip-crds", "--skip-policies")
    assert rc == 0
    kinds = {d["kind"] for d in docs}
    assert not kinds & {"CustomResourceDefinition", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}


def test_output_file_gets_the_stream(capsys, tmp_path: Path) -> None:
    out = tmp_path / "fma.yaml"
    rc, _, err = run(capsys, "--render", "-o", str(out))
    assert rc == 0 and "objects to" in err
    assert [d for d in yaml.safe_load_all(out.read_text()) if d]


@pytest.mark.parametrize("argv,needle", [
    (["--set", "dualPodsController.sleeperLimit=lots"], "sleeperLimit"),
    (["--values", "/nonexistent/values.yaml"], "/nonexistent/values.yaml"),
    (["--release", "Not_A_Name"], "Not_A_Name"),
    (["--chart", "/nonexistent-chart"], "no Helm chart at /nonexistent-chart"),
])
def test_bad_input_is_one_clear_line_and_exit_1(capsys, argv: list[str], needle: str) -> None:
    rc, _, err = run(capsys, "--render", *argv)
    assert rc == 1
    assert err.startswith("fma install: ") and needle in err


def test_a_values_file_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "v.yaml"
    f.write_text("- a\n- b\n")
    with pytest.raises(RenderError, match="must be a YAML mapping"):
        collect_values(files=[str(f)])


def test_render_is_deterministic() -> None:
    assert to_yaml_stream(render({}, namespace="x")) == to_yaml_stream(render({}, namespace="x"))


def test_help_explains_the_kubectl_pipeline(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["install", "--help"])
    assert "kubectl apply -f -" in capsys.readouterr().out


def test_without_the_sdk_or_helm_binary_the_error_says_what_to_install(monkeypatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "helm_python", None)  # import now fails
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(RenderError, match="helm-python-sdk.*helm"):
        render({})


def test_without_the_sdk_set_expressions_still_parse(monkeypatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "helm_python", None)
    assert collect_values(sets=["a.b=1,c=x"], set_strings=["d=2"]) == {"a": {"b": 1}, "c": "x", "d": "2"}
    with pytest.raises(RenderError, match="KEY=VALUE"):
        collect_values(sets=["nonsense"])


def test_without_the_sdk_the_helm_binary_renders(monkeypatch, tmp_path: Path) -> None:
    import json
    import sys

    fake = tmp_path / "helm"
    fake.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"open({str(tmp_path / 'argv.json')!r}, 'w').write(json.dumps([sys.argv[1:], json.load(sys.stdin)]))\n"
        "print('apiVersion: v1\\nkind: ServiceAccount\\nmetadata: {name: x-fma-controllers}')\n")
    fake.chmod(0o755)
    monkeypatch.setitem(sys.modules, "helm_python", None)
    monkeypatch.setenv("PATH", str(tmp_path))
    objs = render({"logLevel": "DEBUG"}, release="x", namespace="ns")
    assert [o["kind"] for o in objs] == ["ServiceAccount"]
    argv, values = json.loads((tmp_path / "argv.json").read_text())
    assert argv[:2] == ["template", "x"] and "--include-crds" in argv and argv[argv.index("--namespace") + 1] == "ns"
    assert values == {"logLevel": "DEBUG"}
