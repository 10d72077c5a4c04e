"""Helpers shared by several test modules (import as ``from tests.support import ...``)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def load_deploy_module(name: str) -> ModuleType:
    """Import ``deploy/<name>.py`` (the deploy scripts are files, not a package), once."""
    mod_name = f"fma_deploy_{name}"
    if mod_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(mod_name, ROOT / "deploy" / f"{name}.py")
        assert spec is not None and spec.loader is not None, f"deploy/{name}.py not found"
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module
        spec.loader.exec_module(module)
    return sys.modules[mod_name]


def examples(n: int) -> int:
    """A property test's example count, scaled by ``FMA_EXAMPLES_SCALE`` (default 1) so a
    long run — ``FMA_EXAMPLES_SCALE=50 pytest tests/property`` — needs no edit."""
    import os

    try:
        scale = float(os.environ.get("FMA_EXAMPLES_SCALE", "1"))
    except ValueError:
        scale = 1.0
    return max(1, int(n * scale))


def eventually(cond: "Callable[[], Any]", timeout: float = 20.0, what: str = "", *,
               interval: float = 0.05, logs: "Callable[[], str] | None" = None) -> "Any":
    """Poll ``cond`` until it returns something truthy (returned) or ``timeout`` seconds
    pass (AssertionError naming ``what``, the last value and, if given, ``logs()``)."""
    import time

    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = cond()
        if last:
            return last
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    tail = f"\n{logs()}" if logs is not None else ""
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what or cond} (last: {last!r}){tail}")
