"""vLLM options strings become argv lists and a typed view; bad options say why."""

from __future__ import annotations

import pytest

from fma.engines.options import OptionsError, parse_options, replace_flag, split_options, validate_with_vllm


def test_options_string_is_split_like_a_shell_but_never_run_by_one() -> None:
    opts = parse_options("--model m --chat-template '{{ a b }}; rm -rf /' --port 8005")
    assert opts.argv == ("--model", "m", "--chat-template", "{{ a b }}; rm -rf /", "--port", "8005")
    assert opts.port == 8005


def test_typed_view_reads_the_flags_fma_needs_and_keeps_the_rest() -> None:
    opts = parse_options("--model m --gpu-memory-utilization=0.5 --max_model_len 256 --enforce-eager "
                         "-tp 2 --served-model-name a b --block-size 16 --kv-cache-memory-bytes 4GiB")
    assert (opts.model, opts.gpu_memory_utilization, opts.max_model_len) == ("m", 0.5, 256)
    assert opts.enforce_eager and opts.tensor_parallel_size == 2
    assert opts.model_names == ("a", "b")
    assert opts.kv_cache_memory_bytes == 4 * 2**30
    assert opts.unknown == ("--block-size", "16")
    assert "--max-model-len" in opts.argv  # underscores normalised as vLLM does


def test_positional_model_is_passed_as_dash_dash_model_because_api_server_ignores_it() -> None:
    opts = parse_options("my/model --port 9000")
    assert opts.model == "my/model"
    assert opts.argv[:2] == ("--model", "my/model")
    assert parse_options("serve my/model").argv == ("--model", "my/model")


@pytest.mark.parametrize("bad, words", [
    ("--port 8000", "no model"),
    ("--model m --port 99999", "port"),
    ("--model m --gpu-memory-utilization 1.5", "gpu-memory-utilization"),
    ("--model m --model-impl 'unterminated", "cannot split"),
    ("a --model b", "two models"),
    ("--model m -tp 0", "tensor-parallel-size"),
])
def test_bad_options_raise_options_error_naming_the_problem(bad: str, words: str) -> None:
    with pytest.raises(OptionsError) as err:
        parse_options(bad)
    assert words in str(err.value)


def test_with_port_replaces_every_port_flag() -> None:
    opts = parse_options("--model m --port=1 --port 2").with_port(3)
    assert opts.port == 3 and opts.argv.count("--port") == 1
    assert replace_flag(["--x", "1", "--x=2", "y"], "--x", "9") == ["y", "--x", "9"]


def test_a_list_is_taken_as_already_split() -> None:
    assert split_options(["--model", "a b"]) == ["--model", "a b"]


@pytest.mark.vllm
def test_vllm_own_parser_accepts_good_options_and_rejects_unknown_flags() -> None:
    validate_with_vllm("--model m --port 8000 --enforce-eager --max-model-len 256")
    with pytest.raises(OptionsError, match="no-such-flag"):
        validate_with_vllm("--model m --no-such-flag 3")
