"""End to end, the way an operator installs FMA: the chart rendered by `fma install --render`
is applied with real `kubectl` to the API server emulator (`fma local --serve
--no-controller`: nodes with mock GPUs, scheduler and kubelet stand-in, no FMA controllers),
CRDs first. The two rendered Deployments are then "run" by starting their own `command` +
`args` as processes pointed at the emulator, and the direct-mode example requester
(deploy/examples/direct-mode/requester-replicaset.yaml) must become Ready, bound to a
provider pod the chart's dual-pods controller made.

What the test changes, and why (everything else is as rendered / as shipped):
  * Deployments: `--metrics-port=0` (both use 8002 on one host here), the debug socket moves
    from /var/run/fma to the test's directory, `--kubeconfig` is added; POD_NAME and
    POD_NAMESPACE are set as the Deployment's downward API would. The kubeconfig carries the
    emulator's token for the Deployment's ServiceAccount (`sa:<ns>:<name>`), so the
    controllers act as that account, as in a cluster: the chart's admission policies exempt
    it and nobody else.
  * example requester: the server-patch's container runs `fma sim-vllm` instead of vLLM (no
    GPU, no model), and both containers bind their pod's own IP ($(POD_IP)) instead of
    0.0.0.0, so the test cannot collide with other processes on this shared machine.
  * the emulator runs in RBAC mode (FMA_EMULATOR_AUTHORIZATION_MODE=RBAC): the controllers
    get exactly what the chart's Role, ClusterRole and bindings grant, and the emulator's
    access record must stay within fma/kube/access.py (the table
    tests/unit/test_chart_rbac_covers_controllers.py checks the chart against).
  * the gpu-map ConfigMap `fma local` writes into `default` is copied to the chart's
    namespace, as an operator would create it there.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from fma.kube import access
from tests.support import eventually as _eventually
from tests.support import fma_local_serving, kubectl

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("fma-local")]

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "deploy" / "examples" / "direct-mode" / "requester-replicaset.yaml"
NS = "fma"
P = "dual-pods.llm-d.ai/"
POD_IP = {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}


def eventually(cond, timeout, what, logs=None):  # type: ignore[no-untyped-def]
    return _eventually(cond, timeout, what, interval=0.1, logs=logs)


def tail(path: Path, n: int = 4000) -> str:
    return f"--- {path.name}\n{path.read_text(errors='replace')[-n:]}" if path.exists() else ""


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Path]:
    """`fma local --serve --no-controller`; yields its kubeconfig."""
    # the chart's RBAC is what the controllers get
    with fma_local_serving(tmp_path, "--no-controller", env={"FMA_EMULATOR_AUTHORIZATION_MODE": "RBAC"},
                           start_timeout=60) as (kc, _):
        yield kc


def render(tmp_path: Path) -> list[dict[str, Any]]:
    out = tmp_path / "rendered.yaml"
    subprocess.run([sys.executable, "-m", "fma", "install", "--render", "-n", NS, "--create-namespace",
                    "-o", str(out)], check=True, timeout=60)
    return [d for d in yaml.safe_load_all(out.read_text()) if d]


def service_account_kubeconfig(kc: Path, dep: dict[str, Any], out: Path) -> Path:
    """``kc`` with the emulator's bearer token for the Deployment's ServiceAccount."""
    sa = dep["spec"]["template"]["spec"]["serviceAccountName"]
    doc = yaml.safe_load(kc.read_text())
    for u in doc["users"]:
        u["user"] = {"token": f"sa:{dep['metadata']['namespace']}:{sa}"}
    out.write_text(yaml.safe_dump(doc))
    return out


def deployment_argv(dep: dict[str, Any], kc: Path, sock_dir: Path) -> tuple[list[str], dict[str, str]]:
    """The Deployment's container command + args as a local process, plus its environment."""
    c = dep["spec"]["template"]["spec"]["containers"][0]
    argv = [*c.get("command", []), *c.get("args", [])]
    assert argv[0] == "fma", f"{dep['metadata']['name']}: the rendered command is {argv[0]!r}, not fma"
    name = dep["metadata"]["name"]
    out = [sys.executable, "-m", "fma"]
    for a in argv[1:]:
        if a.startswith("--metrics-port="):
            a = "--metrics-port=0"
        elif a.startswith("--debug-socket="):
            a = f"--debug-socket=ipc://{sock_dir / (name + '.sock')}"
        out.append(a)
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "CUDA_VISIBLE_DEVICES")}
    env.update({"POD_NAME": f"{name}-0", "POD_NAMESPACE": NS})
    return [*out, "--kubeconfig", str(kc)], env


def example_requester() -> dict[str, Any]:
    """The shipped direct-mode example, its provider made a simulator and every process bound to the pod IP."""
    rs = yaml.safe_load(EXAMPLE.read_text())
    tmpl = rs["spec"]["template"]
    ann = tmpl["metadata"]["annotations"]
    patch = yaml.safe_load(ann[P + "server-patch"])
    server = patch["spec"]["containers"][0]
    model = next(a.split("=", 1)[1] for a in server["args"] if a.startswith("--model="))
    port = next(int(a.split("=", 1)[1]) for a in server["args"] if a.startswith("--port="))
    server.update({"command": ["fma", "sim-vllm"],
                   "args": [f"--model={model}", f"--port={port}", "--host=$(POD_IP)", "--time-scale=50",
                            "--weight-bytes=1GB"],
                   "env": [*server.get("env", []), POD_IP],
                   "readinessProbe": {"httpGet": {"path": "/health", "port": port}, "periodSeconds": 1}})
    ann[P + "server-patch"] = yaml.safe_dump(patch, sort_keys=False)
    req = tmpl["spec"]["containers"][0]
    req["args"] = [*req.get("args", []), "--host=$(POD_IP)"]
    req["env"] = [*req.get("env", []), POD_IP]
    req["readinessProbe"]["periodSeconds"] = 1
    return rs


@pytest.mark.timeout(120)
def test_rendered_chart_on_emulator_brings_direct_mode_requester_to_ready(emulator: Path, tmp_path: Path) -> None:
    kc = emulator
    docs = render(tmp_path)
    crds = [d for d in docs if d["kind"] == "CustomResourceDefinition"]
    rest = [d for d in docs if d["kind"] != "CustomResourceDefinition"]
    assert len(crds) == 3 and {d["kind"] for d in rest} >= {"Namespace", "Deployment", "Role", "RoleBinding",
                                                             "ClusterRole", "ClusterRoleBinding", "ServiceAccount",
                                                             "ValidatingAdmissionPolicy",
                                                             "ValidatingAdmissionPolicyBinding"}

    # CRDs first, established, then everything else
    kubectl(kc, "apply", "-f", "-", stdin=yaml.safe_dump_all(crds))
    kubectl(kc, "wait", "--for=condition=Established", "--timeout=20s",
            *[f"crd/{d['metadata']['name']}" for d in crds])
    applied = kubectl(kc, "apply", "-f", "-", stdin=yaml.safe_dump_all(rest))
    assert len(applied.strip().splitlines()) == len(rest), applied

    gpu_map = json.loads(kubectl(kc, "get", "configmap", "gpu-map", "-n", "default", "-o", "json"))
    kubectl(kc, "apply", "-n", NS, "-f", "-", stdin=json.dumps(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "gpu-map"}, "data": gpu_map["data"]}))

    deployments = {d["metadata"]["name"]: d for d in rest if d["kind"] == "Deployment"}
    assert set(deployments) == {"fma-dual-pods-controller", "fma-launcher-populator"}
    procs: list[tuple[subprocess.Popen[bytes], Path]] = []
    try:
        for name, dep in deployments.items():
            sa_kc = service_account_kubeconfig(kc, dep, tmp_path / f"{name}.kubeconfig")
            argv, env = deployment_argv(dep, sa_kc, tmp_path)
            log_path = tmp_path / f"{name}.log"
            with open(log_path, "wb") as log:
                procs.append((subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                                               start_new_session=True), log_path))

        def logs() -> str:
            return "\n".join(tail(p) for _, p in procs) + "\n" + tail(tmp_path / "fma-local.log")

        # both controllers take their leases (the chart passes --leader-elect)
        def leases() -> set[str]:
            got = json.loads(kubectl(kc, "get", "leases", "-n", NS, "-o", "json"))["items"]
            return {i["metadata"]["name"] for i in got if (i.get("spec") or {}).get("holderIdentity")}
        held = eventually(lambda: len(leases()) >= 2 and leases(), 30, "both controllers to hold a Lease", logs)
        assert all(p.poll() is None for p, _ in procs), logs()

        kubectl(kc, "apply", "-n", NS, "-f", "-", stdin=yaml.safe_dump(example_requester()))
        sel = "app=fma-direct-example"

        def ready_requester() -> dict[str, Any] | None:
            for pod in json.loads(kubectl(kc, "get", "pods", "-n", NS, "-l", sel, "-o", "json"))["items"]:
                ok = any(c["type"] == "Ready" and c["status"] == "True"
                         for c in (pod.get("status") or {}).get("conditions") or [])
                if ok and (pod["metadata"].get("labels") or {}).get(P + "dual"):
                    return pod
            return None

        requester = eventually(ready_requester, 45, "the example requester to be Ready and bound", logs)
        provider_name = requester["metadata"]["labels"][P + "dual"]
        provider = json.loads(kubectl(kc, "get", "pod", provider_name, "-n", NS, "-o", "json"))
        assert provider["metadata"]["labels"].get(P + "dual") == requester["metadata"]["name"]
        assert provider["metadata"]["labels"].get("fma-example/role") == "provider"   # the example's patch
        assert "app" not in provider["metadata"]["labels"]                             # the RS never adopts it
        assert provider["spec"]["nodeName"] == requester["spec"]["nodeName"]
        assert all(p.poll() is None for p, _ in procs), logs()
        assert held >= {"fma-dual-pods-controller"}, held

        # the emulator enforced the chart's RBAC; what the controllers used is all in fma/kube/access.py
        server = yaml.safe_load(kc.read_text())["clusters"][0]["cluster"]["server"]
        with urllib.request.urlopen(server + "/debug/fma/access", timeout=10) as resp:
            record = json.loads(resp.read())
        assert record["mode"] == "RBAC"
        used = [r for r in record["requests"] if r["user"].endswith(":fma-fma-controllers")]
        assert [r for r in used if not r["allowed"]] == [], "denied by the chart's RBAC"
        beyond = {(r["group"], r["resource"], r["verb"]) for r in used} - access.all_needs()
        assert not beyond, f"the controllers used {sorted(beyond)}; add them to fma/kube/access.py (and the chart)"
        assert {(r["group"], r["resource"], r["verb"]) for r in used} >= {("", "pods", "create"), ("", "pods", "watch")}
    finally:
        for p, _ in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p, _ in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
