"""Inference-server engines: the only package that imports vLLM or speaks HTTP to a vLLM
server. Public API:

* :class:`Engine` protocol, :class:`EngineSpec`, :class:`ServerProcess`, :class:`MemoryEstimate`
* :class:`VllmEngine` (real vLLM), :class:`SimEngine` (``fma sim-vllm``), :func:`get_engine`
* :class:`ServerClient` (health, sleep, wake, is_sleeping, models, completion, wait_ready)
* :func:`parse_options` → :class:`VllmOptions`; :class:`OptionsError`; :func:`validate_with_vllm`
* :func:`lookup` (model catalog) → :class:`ModelInfo`
"""

from __future__ import annotations

from typing import Any

from fma.engines.base import H100_BYTES, Engine, EngineSpec, MemoryEstimate, ServerProcess
from fma.engines.catalog import ModelInfo, lookup
from fma.engines.client import Completion, EngineError, NotReady, ServerClient
from fma.engines.options import OptionsError, VllmOptions, parse_options, validate_with_vllm
from fma.engines.process import free_port
from fma.engines.sim import SimEngine
from fma.engines.vllm import VllmEngine

__all__ = [
    "H100_BYTES", "Engine", "EngineSpec", "MemoryEstimate", "ServerProcess", "ModelInfo", "lookup",
    "Completion", "EngineError", "NotReady", "ServerClient", "OptionsError", "VllmOptions",
    "parse_options", "validate_with_vllm", "SimEngine", "VllmEngine", "get_engine", "free_port",
]


def get_engine(kind: str, **kwargs: Any) -> Engine:
    """``"vllm"`` → :class:`VllmEngine`, ``"sim"`` → :class:`SimEngine` (kwargs go to it)."""
    if kind == "vllm":
        return VllmEngine(**kwargs)
    if kind == "sim":
        return SimEngine(**kwargs)
    raise ValueError(f"unknown engine {kind!r}: expected 'vllm' or 'sim'")
