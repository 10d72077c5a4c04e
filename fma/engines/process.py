"""A child server process in its own process group, with its output in a log file."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Mapping, Sequence

log = logging.getLogger(__name__)


_HAVE_PROC = os.path.isdir("/proc/self")


def group_members(pgid: int) -> list[int]:
    """PIDs of live (non-zombie) processes in process group ``pgid`` (Linux ``/proc``)."""
    found: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read().decode(errors="replace")
        except OSError:
            continue
        # fields after the parenthesised command: state ppid pgrp ...
        rest = stat.rsplit(")", 1)[-1].split()
        if len(rest) >= 3 and rest[0] not in ("Z", "X") and int(rest[2]) == pgid:
            found.append(int(entry))
    return found


class PopenServerProcess:
    """Implements :class:`fma.engines.base.ServerProcess` over ``subprocess.Popen``.

    The child is a session leader (``start_new_session``), so ``stop`` reaches every
    process it forked (vLLM's EngineCore and workers) with one ``killpg``.
    """

    def __init__(self, argv: Sequence[str], env: Mapping[str, str], url: str,
                 log_path: Path | None = None, name: str = "", cwd: str | None = None) -> None:
        if log_path is None:
            fd, tmp = tempfile.mkstemp(prefix="fma-engine-", suffix=".log")
            os.close(fd)
            log_path = Path(tmp)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path = Path(log_path)
        self.url = url
        self.name = name or url
        self.argv = list(argv)
        with open(self.log_path, "ab", buffering=0) as out:
            self._popen = subprocess.Popen(
                self.argv, env=dict(env), stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True, cwd=cwd, close_fds=True,
            )
        self.pid = self._popen.pid
        log.info("engine %s: started pid %d, log %s", self.name, self.pid, self.log_path)

    def __repr__(self) -> str:
        return f"<ServerProcess {self.name} pid={self.pid} url={self.url}>"

    def poll(self) -> int | None:
        return self._popen.poll()

    def wait(self, timeout: float | None = None) -> int | None:
        try:
            return self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def _signal_group(self, sig: int) -> bool:
        try:
            os.killpg(self.pid, sig)
            return True
        except ProcessLookupError:
            return False
        except PermissionError:  # pragma: no cover - group re-used by someone else
            return False

    def group_alive(self) -> bool:
        """True while any live (non-zombie) process of the group is left."""
        return bool(group_members(self.pid)) if _HAVE_PROC else self._signal_group(0)

    def stop(self, grace: float = 10.0) -> int:
        """SIGTERM the group, wait ``grace`` seconds, SIGKILL the group; return the exit code.

        Also waits (briefly) for the rest of the group, so no child outlives the call."""
        if self._popen.poll() is None or self.group_alive():
            self._signal_group(signal.SIGTERM)
            code = self.wait(grace)
            deadline = time.monotonic() + max(0.0, grace)
            while self.group_alive() and time.monotonic() < deadline:
                time.sleep(0.05)
            if code is None or self.group_alive():
                log.warning("engine %s: pid %d still up after %.1fs; SIGKILL to its group", self.name, self.pid, grace)
                self._signal_group(signal.SIGKILL)
                self._popen.wait()
                end = time.monotonic() + 5.0
                while self.group_alive() and time.monotonic() < end:
                    time.sleep(0.02)
        code = self._popen.wait()
        log.info("engine %s: pid %d exited with %s", self.name, self.pid, code)
        return code


def free_port(host: str = "127.0.0.1") -> int:
    """An ephemeral TCP port that was free a moment ago (bind port 0, close)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])
