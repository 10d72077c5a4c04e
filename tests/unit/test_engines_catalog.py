"""The model catalog gives sizes by name, alias or local directory; estimates follow vLLM's claim."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fma.engines import SimEngine, VllmEngine
from fma.engines.catalog import CATALOG_PATH, CatalogError, load_catalog, lookup
from fma.engines.memory import RUNTIME_OVERHEAD_BYTES


def test_catalog_has_the_real_models_the_simulator_needs() -> None:
    for name in ("meta-llama/Llama-3.1-8B-Instruct", "Qwen/Qwen3-32B", "meta-llama/Llama-3.1-70B-Instruct",
                 "mistralai/Mixtral-8x7B-Instruct-v0.1", "tiny-llama"):
        info = lookup(name)
        assert info is not None and info.weight_bytes > 0, name


def test_kv_bytes_per_token_matches_the_shape() -> None:
    for info in set(load_catalog(CATALOG_PATH).values()):
        assert info.kv_bytes_per_token == 2 * info.num_layers * info.num_kv_heads * info.head_dim * (
            4 if info.dtype == "float32" else 2), info.name


def test_lookup_by_alias_and_last_path_part_and_unknown() -> None:
    assert lookup("meta-llama/Llama-3.1-8B").name == "meta-llama/Llama-3.1-8B-Instruct"
    assert lookup("/models/QWEN3-32B").name == "Qwen/Qwen3-32B"
    assert lookup("nobody/unknown-model") is None


def test_local_checkpoint_directory_is_measured(tmp_path: Path) -> None:
    d = tmp_path / "m"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"num_hidden_layers": 4, "hidden_size": 128,
                                               "num_attention_heads": 4, "num_key_value_heads": 2,
                                               "dtype": "bfloat16"}))
    (d / "model.safetensors").write_bytes(b"\0" * 1000)
    info = lookup(str(d))
    assert info.weight_bytes == 1000 and info.kv_bytes_per_token == 2 * 4 * 2 * 32 * 2


def test_malformed_catalog_entry_is_named(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("models:\n  - name: x\n")
    with pytest.raises(CatalogError, match="models\\[0\\]"):
        load_catalog(p)


@pytest.mark.parametrize("engine", [VllmEngine(), SimEngine()])
def test_estimate_is_the_utilisation_share_of_the_gpu_and_host_weights_when_asleep(engine) -> None:
    est = engine.estimate_bytes("--model meta-llama/Llama-3.1-8B-Instruct --gpu-memory-utilization 0.5",
                                gpu_total_bytes=80 * 10**9)
    assert est == (40 * 10**9, 16060522496)
    tp = engine.estimate_bytes("--model Qwen/Qwen3-32B -tp 2 --kv-cache-memory-bytes 1000000000")
    assert tp.gpu_bytes == 65524246528 // 2 + 10**9 + RUNTIME_OVERHEAD_BYTES
