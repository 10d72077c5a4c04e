"""Process facts from /proc and process-group signalling (Linux).

A pid alone does not name a process across a launcher restart (pids are reused), so an
instance is recorded as ``(pid, start_ticks)``: field 22 of ``/proc/PID/stat``, the
process's start time in clock ticks since boot. :func:`same_process` is the check used to
re-adopt an instance.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Callable


def start_ticks(pid: int) -> int | None:
    """The process's start time (clock ticks since boot), or None when it does not exist."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read().decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # comm (field 2) may contain spaces and parentheses: split after the last ')'.
    rest = raw[raw.rfind(")") + 2 :].split()
    state = rest[0] if rest else "?"
    if state in ("Z", "X"):
        return None
    try:
        return int(rest[19])
    except (IndexError, ValueError):
        return None


def same_process(pid: int | None, ticks: int | None) -> bool:
    """True when ``pid`` runs and is the process that started at ``ticks``."""
    if not pid or ticks is None:
        return False
    return start_ticks(pid) == ticks


def group_members(pgid: int) -> list[int]:
    """Live pids whose process group is ``pgid``."""
    out: list[int] = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                raw = fh.read().decode(errors="replace")
        except OSError:
            continue
        rest = raw[raw.rfind(")") + 2 :].split()
        if len(rest) > 2 and rest[0] not in ("Z", "X") and rest[2] == str(pgid):
            out.append(int(name))
    return out


def signal_group(pgid: int, sig: int) -> bool:
    """Send ``sig`` to the group; False when the group is empty."""
    try:
        os.killpg(pgid, sig)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return False


def wait_gone(pid: int, ticks: int | None, timeout: float, interval: float = 0.05) -> bool:
    """Poll until the process is gone (or a zombie); True if it went within ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        if not same_process(pid, ticks) if ticks is not None else start_ticks(pid) is None:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


class PidWatcher:
    """Calls ``on_gone()`` once when a process that is *not our child* ends (pidfd)."""

    def __init__(self, pid: int, ticks: int | None, on_gone: Callable[[], None], name: str = "") -> None:
        self.pid = pid
        self.ticks = ticks
        self._on_gone = on_gone
        self._stop = threading.Event()
        self._fd: int | None
        try:
            self._fd = os.pidfd_open(pid)
        except (OSError, AttributeError):
            self._fd = None
        self._thread = threading.Thread(target=self._run, name=f"pidwatch-{name or pid}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import select

        try:
            while not self._stop.is_set():
                if self._fd is not None:
                    ready, _, _ = select.select([self._fd], [], [], 0.5)
                    gone = bool(ready) or not same_process(self.pid, self.ticks)
                else:
                    gone = not same_process(self.pid, self.ticks)
                    if not gone:
                        self._stop.wait(0.2)
                if gone:
                    if not self._stop.is_set():
                        self._on_gone()
                    return
        finally:
            if self._fd is not None:
                os.close(self._fd)

    def close(self) -> None:
        self._stop.set()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=2)


def terminate_group(pgid: int, grace: float, is_gone: Callable[[float], bool]) -> str:
    """SIGTERM the group, wait ``grace`` s via ``is_gone(timeout)``, then SIGKILL the group.

    Returns ``"term"`` (ended within the grace period) or ``"kill"``.
    """
    signal_group(pgid, signal.SIGTERM)
    if is_gone(grace):
        signal_group(pgid, signal.SIGKILL)  # sweep leftovers (vLLM's own children)
        return "term"
    signal_group(pgid, signal.SIGKILL)
    return "kill"
