"""GPU discovery: NVML when present, otherwise mock GPUs with deterministic NVIDIA-style UUIDs."""

from __future__ import annotations

import logging
import re

import pytest

from fma.gpus import discover, mock_gpus, mock_uuid, parse_gpu_map

UUID_RE = re.compile(r"^GPU-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def test_mock_uuids_have_nvidia_format_and_are_deterministic_per_node() -> None:
    assert UUID_RE.match(mock_uuid("node-a", 3))
    assert mock_uuid("node-a", 3) == mock_uuid("node-a", 3) != mock_uuid("node-b", 3)
    assert mock_uuid("node-a", 3).endswith("000000000003")
    assert len({g.uuid for g in mock_gpus(8, node="n")}) == 8


def test_mock_discovery_says_which_source_and_why(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="fma.gpus"):
        d = discover(mock_count=2, mock_bytes=10, node="n1", use_nvml=False)
    assert d.source == "mock" and [g.index for g in d.gpus] == [0, 1]
    assert all(g.total_bytes == 10 and g.free_bytes == 10 for g in d.gpus)
    assert "mock" in caplog.text and "n1" in caplog.text


def test_without_a_driver_nvml_falls_back_to_mocks_with_the_nvml_reason() -> None:
    d = discover(mock_count=1, node="n")
    if d.source == "nvml":
        pytest.skip("a real GPU is present")
    assert "NVML" in d.reason or "nvidia-ml-py" in d.reason


def test_gpu_map_entry_gives_uuids_and_indices() -> None:
    d = discover(gpu_map='{"GPU-b": 1, "GPU-a": 0}', node="n", use_nvml=False)
    assert d.source == "gpu-map"
    assert d.indices(["GPU-b", "GPU-a"]) == (1, 0)
    with pytest.raises(KeyError, match="GPU-zzz"):
        d.indices(["GPU-zzz"])


@pytest.mark.parametrize("bad, words", [("not json", "not JSON"), ("[1]", "expected an object"),
                                        ('{"g": -1}', "non-negative"), ('{"a": 0, "b": 0}', "share an index")])
def test_bad_gpu_map_entry_is_refused_naming_the_node(bad: str, words: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_gpu_map(bad, "node-7")
    assert words in str(err.value) and "node-7" in str(err.value)


@pytest.mark.gpu
def test_nvml_lists_real_gpus() -> None:
    d = discover()
    assert d.source == "nvml" and all(UUID_RE.match(g.uuid) or g.uuid.startswith("MIG-") for g in d.gpus)
