"""Process supervisor: every process ``fma local`` starts, and the guarantee it stops them.

Each process runs in its own session (process group), so a stop signals the process and
everything it forked (a launcher's vLLM instances included). Stop = SIGTERM to the group,
a grace period, then SIGKILL to the group. All processes are started from one long-lived
thread with ``PR_SET_PDEATHSIG`` (Linux): if ``fma local`` itself is killed with SIGKILL,
the kernel sends each direct child SIGTERM. :meth:`Supervisor.close` stops every live
process, and an ``atexit`` hook does the same for supervisors not closed by their owner.
"""

from __future__ import annotations

import atexit
import concurrent.futures as cf
import ctypes
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_libc = None
if sys.platform.startswith("linux"):
    try:
        _libc = ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:  # pragma: no cover
        _libc = None


def _child_setup() -> None:  # runs in the child between fork and exec: keep it tiny
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


@dataclass
class Proc:
    """One supervised process."""
    key: str
    argv: list[str]
    popen: subprocess.Popen[bytes]
    log_path: str
    started: float = field(default_factory=time.time)
    exit_code: int | None = None
    stopping: bool = False
    on_exit: Callable[["Proc"], None] | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None


class Supervisor:
    """Starts processes, reports their exits, and stops them all on :meth:`close`."""

    def __init__(self, on_exit: Callable[[Proc], None] | None = None) -> None:
        self._procs: dict[str, Proc] = {}
        self._lock = threading.Lock()
        self._on_exit = on_exit
        self._jobs: queue.Queue[tuple[Callable[[], subprocess.Popen[bytes]], cf.Future] | None] = queue.Queue()
        self._closed = False
        self._spawner = threading.Thread(target=self._spawn_loop, name="fma-local-spawner", daemon=True)
        self._spawner.start()
        _LIVE.add(self)

    # ---- spawning (one thread for the life of the supervisor: PDEATHSIG is per thread)
    def _spawn_loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fn, fut = job
            try:
                fut.set_result(fn())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                fut.set_exception(exc)

    def start(self, key: str, argv: Sequence[str], env: Mapping[str, str] | None = None,
              cwd: str | None = None, log_path: str = os.devnull,
              on_exit: Callable[[Proc], None] | None = None) -> Proc:
        """Start ``argv`` (no shell) with exactly ``env``; stdout and stderr go to ``log_path``."""
        if self._closed:
            raise RuntimeError(f"supervisor closed; not starting {key}")
        argv = [str(a) for a in argv]
        if not argv:
            raise ValueError(f"{key}: empty command")

        def spawn() -> subprocess.Popen[bytes]:
            out = open(log_path, "ab")  # noqa: SIM115 - handed to the child, closed below
            try:
                return subprocess.Popen(argv, env=dict(env) if env is not None else None, cwd=cwd,
                                        stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                        start_new_session=True, preexec_fn=_child_setup, close_fds=True)
            finally:
                out.close()

        fut: cf.Future = cf.Future()
        self._jobs.put((spawn, fut))
        popen = fut.result(timeout=30)
        proc = Proc(key, argv, popen, log_path, on_exit=on_exit)
        with self._lock:
            self._procs[key] = proc
        threading.Thread(target=self._wait, args=(proc,), name=f"wait-{key}", daemon=True).start()
        log.debug("started %s pid %d: %s", key, proc.pid, " ".join(argv))
        return proc

    def _wait(self, proc: Proc) -> None:
        proc.exit_code = proc.popen.wait()
        # the group may outlive its leader (forked children): clean it up unless asked to stop
        _signal_group(proc.pid, signal.SIGKILL)
        with self._lock:
            if self._procs.get(proc.key) is proc:
                del self._procs[proc.key]
        for cb in (proc.on_exit, self._on_exit):
            if cb is None:
                continue
            try:
                cb(proc)
            except Exception:  # noqa: BLE001
                log.exception("exit handler for %s failed", proc.key)

    def get(self, key: str) -> Proc | None:
        with self._lock:
            return self._procs.get(key)

    def live(self) -> list[Proc]:
        with self._lock:
            return [p for p in self._procs.values() if p.alive()]

    def stop(self, key: str, grace: float = 10.0) -> int | None:
        """SIGTERM the process group, SIGKILL after ``grace`` seconds; the exit code."""
        with self._lock:
            proc = self._procs.get(key)
        if proc is None:
            return None
        return stop_proc(proc, grace)

    def close(self, grace: float = 5.0) -> None:
        """Stop every live process (in parallel), then the spawner thread."""
        self._closed = True
        procs = self.live()
        trees = {p.pid: descendants(p.pid) for p in procs}
        for p in procs:
            p.stopping = True
            _signal_tree(p.pid, trees[p.pid], signal.SIGTERM)
        deadline = time.monotonic() + grace
        for p in procs:
            try:
                p.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s (pid %d) ignored SIGTERM for %.1fs; killing it", p.key, p.pid, grace)
            _signal_tree(p.pid, trees[p.pid] + descendants(p.pid), signal.SIGKILL)
            try:
                p.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:  # pragma: no cover - unkillable
                log.error("%s (pid %d) survived SIGKILL", p.key, p.pid)
        self._jobs.put(None)
        _LIVE.discard(self)


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (Linux /proc), also those in other sessions."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:  # pragma: no cover - not Linux
        return []
    for e in entries:
        if not e.isdigit():
            continue
        try:
            with open(f"/proc/{e}/stat", "rb") as fh:
                stat = fh.read().decode(errors="replace")
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(e))
    out: list[int] = []
    todo = [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _signal_tree(pid: int, tree: list[int], sig: int) -> None:
    """Signal the process group of ``pid`` and every process of ``tree`` (and its group)."""
    _signal_group(pid, sig)
    for p in tree:
        try:
            os.kill(p, sig)
        except (ProcessLookupError, PermissionError):
            pass


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop_proc(proc: Proc, grace: float) -> int | None:
    """SIGTERM the process, its group and all its descendants; SIGKILL what is left after ``grace``."""
    proc.stopping = True
    tree = descendants(proc.pid)
    _signal_tree(proc.pid, tree, signal.SIGTERM)
    try:
        proc.popen.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        log.info("%s (pid %d) still running %.1fs after SIGTERM; SIGKILL", proc.key, proc.pid, grace)
    _signal_tree(proc.pid, tree + descendants(proc.pid), signal.SIGKILL)
    try:
        return proc.popen.wait(timeout=5)
    except subprocess.TimeoutExpired:  # pragma: no cover
        return None


_LIVE: "weakref.WeakSet[Supervisor]" = weakref.WeakSet()


@atexit.register
def _close_all() -> None:  # pragma: no cover - exercised by the CLI's exit
    for sup in list(_LIVE):
        sup.close(grace=2.0)
