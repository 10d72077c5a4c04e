"""vLLM options strings → argv lists and a small typed view.

An options string (as in an InferenceServerConfig's ``modelServerConfig.options``) is split
like a POSIX shell would split it (``shlex``), but no shell ever sees it. The typed view
reads only the flags FMA needs (model, port, memory knobs); every other flag is kept in the
argv untouched. ``validate_with_vllm`` runs vLLM's own argument parser when vLLM is
importable (it is slow: ~13 s to import), so a bad flag is caught before a process starts.
"""

from __future__ import annotations

import argparse
import shlex
from dataclasses import dataclass, field
from typing import Sequence

DEFAULT_PORT = 8000
DEFAULT_GPU_MEMORY_UTILIZATION = 0.9


class OptionsError(ValueError):
    """The options cannot be used; the message says which option and why."""


@dataclass(frozen=True)
class VllmOptions:
    """What FMA needs to know about one vLLM command line."""

    argv: tuple[str, ...]
    model: str
    port: int = DEFAULT_PORT
    host: str | None = None
    served_model_name: tuple[str, ...] = ()
    gpu_memory_utilization: float = DEFAULT_GPU_MEMORY_UTILIZATION
    kv_cache_memory_bytes: int | None = None
    max_model_len: int | None = None
    tensor_parallel_size: int = 1
    enforce_eager: bool = False
    enable_sleep_mode: bool = False
    dtype: str | None = None
    unknown: tuple[str, ...] = field(default=())

    @property
    def model_names(self) -> tuple[str, ...]:
        """Names the server answers to in ``/v1/models`` (served names, else the model)."""
        return self.served_model_name or (self.model,)

    def with_port(self, port: int) -> "VllmOptions":
        """The same options with ``--port`` replaced (or added)."""
        return parse_options(replace_flag(self.argv, "--port", str(port)))


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise OptionsError(message)


def _byte_size(text: str) -> int:
    """vLLM accepts plain integers and suffixes like 4GiB / 4G for byte sizes."""
    t = text.strip()
    units = {"k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12,
             "ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40}
    low = t.lower().removesuffix("b")
    for suffix in sorted(units, key=len, reverse=True):
        if low.endswith(suffix):
            return int(float(low[: -len(suffix)]) * units[suffix])
    return int(float(low))


def _port(text: str) -> int:
    p = int(text)
    if not 0 <= p <= 65535:
        raise ValueError(f"port {p} outside 0..65535")
    return p


def _fraction(text: str) -> float:
    f = float(text)
    if not 0.0 < f <= 1.0:
        raise ValueError(f"{f} is not in (0, 1]")
    return f


def _make_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="vllm options", add_help=False, allow_abbrev=False)
    p.add_argument("--model")
    p.add_argument("--port", type=_port, default=DEFAULT_PORT)
    p.add_argument("--host")
    p.add_argument("--served-model-name", nargs="+", default=[])
    p.add_argument("--gpu-memory-utilization", type=_fraction, default=DEFAULT_GPU_MEMORY_UTILIZATION)
    p.add_argument("--kv-cache-memory-bytes", type=_byte_size)
    p.add_argument("--max-model-len", type=_byte_size)
    p.add_argument("--tensor-parallel-size", "-tp", type=int, default=1)
    p.add_argument("--enforce-eager", action="store_true")
    p.add_argument("--enable-sleep-mode", action="store_true")
    p.add_argument("--dtype")
    return p


def normalise_flag(arg: str) -> str:
    """vLLM accepts ``--max_model_len`` for ``--max-model-len``; so do we."""
    if not arg.startswith("--"):
        return arg
    name, eq, value = arg.partition("=")
    return name.replace("_", "-") + eq + value


def split_options(options: str | Sequence[str]) -> list[str]:
    """Shell-like split of an options string (a list is taken as already split)."""
    if isinstance(options, str):
        try:
            parts = shlex.split(options, comments=False, posix=True)
        except ValueError as exc:
            raise OptionsError(f"cannot split options {options!r}: {exc}") from exc
    else:
        parts = [str(a) for a in options]
    if parts and parts[0] == "serve":  # `vllm serve MODEL ...` style
        parts = parts[1:]
    return [normalise_flag(a) for a in parts]


def parse_options(options: str | Sequence[str]) -> VllmOptions:
    """Parse a vLLM options string into argv and a typed view; raise :class:`OptionsError`."""
    argv = split_options(options)
    # A positional model is taken only in first place (``MODEL --flag ...``): a later bare
    # word is the value of some flag we do not model.
    model_tag = argv[0] if argv and not argv[0].startswith("-") else None
    try:
        ns, unknown = _make_parser().parse_known_args(argv[1:] if model_tag else argv)
    except (ValueError, TypeError) as exc:
        raise OptionsError(f"bad vLLM options {' '.join(argv)!r}: {exc}") from exc
    model = ns.model or model_tag
    if ns.model and model_tag and ns.model != model_tag:
        raise OptionsError(f"two models given: positional {model_tag!r} and --model {ns.model!r}")
    if not model:
        raise OptionsError(f"no model in vLLM options {' '.join(argv)!r}: give --model NAME or a positional model")
    if ns.tensor_parallel_size < 1:
        raise OptionsError(f"--tensor-parallel-size must be >= 1, got {ns.tensor_parallel_size}")
    if model_tag is not None:
        # `python -m vllm.entrypoints.openai.api_server` ignores a positional model (only
        # `vllm serve` reads it) and would serve its default model: pass it as --model.
        argv = ["--model", model_tag, *argv[1:]] if ns.model is None else argv[1:]
    return VllmOptions(
        argv=tuple(argv),
        model=model,
        port=ns.port,
        host=ns.host,
        served_model_name=tuple(ns.served_model_name),
        gpu_memory_utilization=ns.gpu_memory_utilization,
        kv_cache_memory_bytes=ns.kv_cache_memory_bytes,
        max_model_len=ns.max_model_len,
        tensor_parallel_size=ns.tensor_parallel_size,
        enforce_eager=ns.enforce_eager,
        enable_sleep_mode=ns.enable_sleep_mode,
        dtype=ns.dtype,
        unknown=tuple(unknown),
    )


def replace_flag(argv: Sequence[str], flag: str, value: str) -> list[str]:
    """argv with every ``flag VALUE`` / ``flag=VALUE`` removed and ``flag value`` appended."""
    out: list[str] = []
    skip = False
    for a in argv:
        if skip:
            skip = False
            continue
        if a == flag:
            skip = True
            continue
        if a.startswith(flag + "="):
            continue
        out.append(a)
    return out + [flag, value]


def validate_with_vllm(options: str | Sequence[str]) -> None:
    """Parse with vLLM's own API-server parser (imports vLLM lazily; slow). Raises OptionsError."""
    argv = split_options(options)
    try:
        from vllm.entrypoints.launchers.cli_args import make_arg_parser, validate_parsed_serve_args
        from vllm.utils.argparse_utils import FlexibleArgumentParser
    except ImportError as exc:  # vLLM not installed, or a version with another layout
        raise OptionsError(f"cannot validate with vLLM: {exc}") from exc

    class _Strict(FlexibleArgumentParser):
        def error(self, message: str) -> None:  # type: ignore[override]
            raise OptionsError(f"vLLM rejects options {' '.join(argv)!r}: {message}")

        def exit(self, status: int = 0, message: str | None = None) -> None:  # type: ignore[override]
            raise OptionsError(f"vLLM parser exited ({status}): {message or ''}".strip())

    parser = make_arg_parser(_Strict(description="vLLM"))
    ns = parser.parse_args(argv)
    try:
        validate_parsed_serve_args(ns)
    except (ValueError, TypeError) as exc:
        raise OptionsError(f"vLLM rejects options {' '.join(argv)!r}: {exc}") from exc
