"""GPU discovery: NVML when a driver is present, mock GPUs otherwise.

The only importer of ``pynvml`` (``nvidia-ml-py``). :func:`discover` returns the GPUs and
says which source was used and why, and logs that in one line. Mock GPUs get
deterministic NVIDIA-format UUIDs (:func:`mock_uuid`), or come from a ``gpu-map``
ConfigMap entry (``{"<GPU UUID>": <index>}`` for this node).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any, Mapping

log = logging.getLogger(__name__)
H100_BYTES = 80 * 10**9


@dataclass(frozen=True)
class Gpu:
    index: int
    uuid: str
    total_bytes: int
    used_bytes: int = 0
    name: str = "mock"
    mock: bool = True

    @property
    def free_bytes(self) -> int:
        return self.total_bytes - self.used_bytes


@dataclass(frozen=True)
class Discovery:
    gpus: tuple[Gpu, ...]
    source: str   # "nvml", "mock" or "gpu-map"
    reason: str

    def by_uuid(self) -> dict[str, Gpu]:
        return {g.uuid: g for g in self.gpus}

    def indices(self, uuids: list[str] | tuple[str, ...]) -> tuple[int, ...]:
        """CUDA indices for these UUIDs; KeyError naming the unknown UUID."""
        known = self.by_uuid()
        missing = [u for u in uuids if u not in known]
        if missing:
            raise KeyError(f"unknown GPU UUID(s) {missing}; this node has {sorted(known)}")
        return tuple(known[u].index for u in uuids)


class NvmlUnavailable(RuntimeError):
    """No usable NVML (no library, no driver, or no device); the message says which."""


def mock_uuid(node: str, index: int) -> str:
    """``GPU-<8>-<4>-<4>-<4>-<12>`` from SHA-256 of the node name; the last group is the index."""
    h = hashlib.sha256(node.encode()).hexdigest()
    return f"GPU-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{index:012x}"


def mock_gpus(count: int, bytes_each: int = H100_BYTES, node: str = "node") -> list[Gpu]:
    if count < 0:
        raise ValueError(f"mock GPU count must be >= 0, got {count}")
    return [Gpu(index=i, uuid=mock_uuid(node, i), total_bytes=bytes_each) for i in range(count)]


def parse_gpu_map(entry: str | Mapping[str, Any], node: str = "") -> dict[str, int]:
    """A ``gpu-map`` value (JSON ``{"<uuid>": index}``) → dict; ValueError naming the node."""
    where = f"gpu-map entry for node {node!r}" if node else "gpu-map entry"
    try:
        raw = json.loads(entry) if isinstance(entry, str) else dict(entry)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{where}: not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected an object {{uuid: index}}, got {type(raw).__name__}")
    out: dict[str, int] = {}
    for uuid, idx in raw.items():
        if not isinstance(idx, int) or isinstance(idx, bool) or idx < 0:
            raise ValueError(f"{where}: index of {uuid!r} must be a non-negative integer, got {idx!r}")
        out[str(uuid)] = idx
    if len(set(out.values())) != len(out):
        raise ValueError(f"{where}: two GPUs share an index: {out}")
    return out


def gpus_from_map(gpu_map: Mapping[str, int], bytes_each: int = H100_BYTES) -> list[Gpu]:
    return sorted((Gpu(index=i, uuid=u, total_bytes=bytes_each) for u, i in gpu_map.items()),
                  key=lambda g: g.index)


def nvml_gpus() -> list[Gpu]:
    """GPUs as NVML reports them; raises :class:`NvmlUnavailable` with the reason."""
    try:
        import pynvml
    except ImportError as exc:
        raise NvmlUnavailable(f"nvidia-ml-py not installed ({exc})") from exc
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...
        raise NvmlUnavailable(f"NVML init failed: {exc.__class__.__name__}: {exc}") from exc
    try:
        out = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            mem = pynvml.nvmlDeviceGetMemoryInfo(h)
            uuid = pynvml.nvmlDeviceGetUUID(h)
            name = pynvml.nvmlDeviceGetName(h)
            out.append(Gpu(index=i, uuid=uuid.decode() if isinstance(uuid, bytes) else str(uuid),
                           total_bytes=int(mem.total), used_bytes=int(mem.used),
                           name=name.decode() if isinstance(name, bytes) else str(name), mock=False))
        if not out:
            raise NvmlUnavailable("NVML reports no GPU")
        return out
    finally:
        pynvml.nvmlShutdown()


def discover(mock_count: int | None = None, mock_bytes: int = H100_BYTES, node: str = "node",
             gpu_map: str | Mapping[str, Any] | None = None, use_nvml: bool = True) -> Discovery:
    """NVML when usable (and ``use_nvml``); else GPUs from ``gpu_map``; else ``mock_count`` mocks.

    Passing ``mock_count`` or ``gpu_map`` with ``use_nvml=False`` forces mocks (tests,
    ``fma local``). Logs one line saying which source was used and why.
    """
    why_not_nvml = "NVML not tried (mock GPUs requested)"
    if use_nvml:
        try:
            gpus = nvml_gpus()
            d = Discovery(tuple(gpus), "nvml", f"NVML found {len(gpus)} GPU(s)")
            log.info("gpus on %s: %s: %s", node, d.reason, ", ".join(f"{g.index}={g.uuid}" for g in gpus))
            return d
        except NvmlUnavailable as exc:
            why_not_nvml = str(exc)
    if gpu_map is not None:
        gpus = gpus_from_map(parse_gpu_map(gpu_map, node), mock_bytes)
        d = Discovery(tuple(gpus), "gpu-map", f"{why_not_nvml}; using {len(gpus)} mock GPU(s) from gpu-map")
    else:
        n = 0 if mock_count is None else mock_count
        gpus = mock_gpus(n, mock_bytes, node)
        d = Discovery(tuple(gpus), "mock",
                      f"{why_not_nvml}; using {n} mock GPU(s) of {mock_bytes} bytes (UUIDs from sha256 of {node!r})")
    log.info("gpus on %s: %s", node, d.reason)
    return d
