"""The model size catalog (``models/catalog.yaml``): weight bytes and shapes by model name.

``lookup(name)`` finds a model by its name, an alias, or (case-insensitively) the last
path component; a local directory with a ``config.json`` is measured from its files.
Unknown models give ``None`` — callers decide (the simulator takes a size from a flag).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import yaml

CATALOG_PATH = Path(__file__).resolve().parents[2] / "models" / "catalog.yaml"
_DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float8": 1, "fp8": 1, "int8": 1}


@dataclass(frozen=True)
class ModelInfo:
    name: str
    weight_bytes: int
    num_layers: int
    hidden_size: int
    kv_bytes_per_token: int
    num_kv_heads: int = 0
    head_dim: int = 0
    params: int = 0
    dtype: str = "bfloat16"
    aliases: tuple[str, ...] = ()


class CatalogError(ValueError):
    """The catalog file is malformed (the message names the entry)."""


def _entry(raw: dict, where: str) -> ModelInfo:
    try:
        return ModelInfo(
            name=str(raw["name"]),
            weight_bytes=int(raw["weight_bytes"]),
            num_layers=int(raw["num_layers"]),
            hidden_size=int(raw["hidden_size"]),
            kv_bytes_per_token=int(raw["kv_bytes_per_token"]),
            num_kv_heads=int(raw.get("num_kv_heads", 0)),
            head_dim=int(raw.get("head_dim", 0)),
            params=int(raw.get("params", 0)),
            dtype=str(raw.get("dtype", "bfloat16")),
            aliases=tuple(str(a) for a in raw.get("aliases", ())),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CatalogError(f"{where}: bad model entry {raw!r}: {exc}") from exc


def load_catalog(path: Path | str = CATALOG_PATH) -> dict[str, ModelInfo]:
    """All entries, keyed by every lower-cased name and alias."""
    p = Path(path)
    data = yaml.safe_load(p.read_text()) or {}
    out: dict[str, ModelInfo] = {}
    for i, raw in enumerate(data.get("models", [])):
        info = _entry(raw, f"{p}#models[{i}]")
        for key in (info.name, *info.aliases):
            out[key.lower()] = info
    return out


@functools.lru_cache(maxsize=4)
def _default_catalog(path: str) -> dict[str, ModelInfo]:
    return load_catalog(path)


def from_directory(path: Path) -> ModelInfo | None:
    """Measure a local Hugging Face checkpoint directory (config.json + *.safetensors)."""
    cfg_path = path / "config.json"
    if not cfg_path.is_file():
        return None
    cfg = json.loads(cfg_path.read_text())
    layers = int(cfg.get("num_hidden_layers", 0))
    hidden = int(cfg.get("hidden_size", 0))
    heads = int(cfg.get("num_attention_heads", 1) or 1)
    kv_heads = int(cfg.get("num_key_value_heads", heads) or heads)
    head_dim = int(cfg.get("head_dim") or (hidden // heads if heads else 0))
    dtype = str(cfg.get("dtype") or cfg.get("torch_dtype") or "bfloat16")
    weight_bytes = sum(f.stat().st_size for f in path.glob("*.safetensors")) or sum(
        f.stat().st_size for f in path.glob("*.bin"))
    return ModelInfo(
        name=str(path), weight_bytes=weight_bytes, num_layers=layers, hidden_size=hidden,
        kv_bytes_per_token=2 * layers * kv_heads * head_dim * _DTYPE_BYTES.get(dtype, 2),
        num_kv_heads=kv_heads, head_dim=head_dim, dtype=dtype,
    )


def lookup(model: str, catalog: dict[str, ModelInfo] | None = None) -> ModelInfo | None:
    """The catalog entry for ``model`` (name, alias, last path part, or local directory)."""
    cat = catalog if catalog is not None else _default_catalog(str(CATALOG_PATH))
    key = model.lower().rstrip("/")
    if key in cat:
        return cat[key]
    base = key.rsplit("/", 1)[-1]
    for name, info in cat.items():
        if name.rsplit("/", 1)[-1] == base:
            return info
    p = Path(model)
    if p.is_dir():
        return from_directory(p)
    return None
