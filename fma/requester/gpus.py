"""Which GPUs this requester holds: flags (mock), NVIDIA_VISIBLE_DEVICES, or NVML."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Mapping

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GpuSource:
    uuids: tuple[str, ...]
    source: str  # "flags" | "env" | "env+gpu-map" | "nvml" | "none"
    reason: str


def _split(raw: str) -> list[str]:
    return [p.strip() for p in raw.split(",") if p.strip()]


def find_gpus(flag: str | None, env: Mapping[str, str], gpu_map: Mapping[str, int] | None = None,
              use_nvml: bool = True) -> GpuSource:
    """Flags win (mock mode); then UUIDs (or indices + gpu-map) in NVIDIA_VISIBLE_DEVICES; then NVML."""
    if flag:
        return GpuSource(tuple(_split(flag)), "flags", "GPUs given with --gpus (mock mode)")
    nvd = env.get("NVIDIA_VISIBLE_DEVICES", "")
    items = [p for p in _split(nvd) if p not in ("all", "none", "void")]
    if items and all(p.startswith(("GPU-", "MIG-")) for p in items):
        return GpuSource(tuple(items), "env", "UUIDs from NVIDIA_VISIBLE_DEVICES")
    if items and gpu_map and all(p.isdigit() for p in items):
        by_index = {int(i): u for u, i in gpu_map.items()}
        if all(int(p) in by_index for p in items):
            return GpuSource(tuple(by_index[int(p)] for p in items), "env+gpu-map",
                             "indices from NVIDIA_VISIBLE_DEVICES mapped with gpu-map")
    if use_nvml:
        try:
            from fma.gpus import NvmlUnavailable, nvml_gpus
            try:
                return GpuSource(tuple(g.uuid for g in nvml_gpus()), "nvml", "GPUs visible to NVML")
            except NvmlUnavailable as exc:
                why = str(exc)
        except ImportError as exc:  # pragma: no cover - fma.gpus is part of the package
            why = str(exc)
    else:
        why = "NVML not tried"
    return GpuSource((), "none", f"no GPU found (NVIDIA_VISIBLE_DEVICES={nvd!r}; {why})")


def memory_usage_mib(uuids: tuple[str, ...], mock: bool) -> dict[str, int]:
    """Used MiB per GPU from NVML; zeros for mock GPUs or when NVML is unavailable."""
    out = {u: 0 for u in uuids}
    if mock or not uuids:
        return out
    try:
        from fma.gpus import NvmlUnavailable, nvml_gpus
        for g in nvml_gpus():
            if g.uuid in out:
                out[g.uuid] = g.used_bytes // (1024 * 1024)
    except Exception as exc:  # NvmlUnavailable and driver errors: report zeros
        log.debug("accelerator memory usage unavailable: %s", exc)
    return out


def load_gpu_map(path: str | None, node: str) -> dict[str, int] | None:
    """A gpu-map file: either the ConfigMap's data (``{node: json}``) or one node's entry."""
    if not path:
        return None
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    if node and node in doc:
        entry = doc[node]
        return json.loads(entry) if isinstance(entry, str) else dict(entry)
    return {str(k): int(v) for k, v in doc.items() if isinstance(v, int)}
