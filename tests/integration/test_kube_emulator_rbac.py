"""The emulator in RBAC mode: a service account (kubectl --as) gets the real server's 403
until a Role and RoleBinding grant the verb; the unauthenticated admin is never checked;
/debug/fma/access lists what the service account asked for."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from fma.kube.emulator import Emulator

KUBECTL = shutil.which("kubectl") or str(Path(sys.executable).parent / "kubectl")
BOT = "system:serviceaccount:default:bot"


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[tuple[Emulator, str]]:
    with Emulator(port=0, crd_dir=None, authorization_mode="RBAC") as e:
        kc = str(tmp_path / "kubeconfig")
        e.write_kubeconfig(kc)
        yield e, kc


def kubectl(kc: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([KUBECTL, "--kubeconfig", kc, *args], capture_output=True, text=True, timeout=60)


def test_service_account_is_forbidden_until_a_role_binding_grants_the_verb(emu: tuple[Emulator, str]) -> None:
    e, kc = emu
    out = kubectl(kc, "--as", BOT, "get", "pods")
    assert out.returncode != 0
    assert (f'pods is forbidden: User "{BOT}" cannot list resource "pods" in API group "" in the namespace '
            '"default"') in out.stderr
    assert kubectl(kc, "get", "pods").returncode == 0                       # admin: system:masters
    assert kubectl(kc, "create", "role", "read-pods", "--verb=list", "--resource=pods").returncode == 0
    assert kubectl(kc, "create", "rolebinding", "bot-reads", "--role=read-pods",
                   "--serviceaccount=default:bot").returncode == 0
    assert kubectl(kc, "--as", BOT, "get", "pods").returncode == 0
    denied = kubectl(kc, "--as", BOT, "delete", "pod", "x")
    assert 'cannot delete resource "pods"' in denied.stderr
    with urllib.request.urlopen(e.url + "/debug/fma/access", timeout=10) as resp:
        record = json.loads(resp.read())
    seen = {(r["verb"], r["resource"], r["allowed"]) for r in record["requests"] if r["user"] == BOT}
    assert {("list", "pods", False), ("list", "pods", True), ("delete", "pods", False)} <= seen


def test_unknown_authorization_mode_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="AlwaysAllow, RBAC"):
        Emulator(port=0, crd_dir=None, authorization_mode="Webhook")
