"""Starting instance processes: through the preloaded fork server, or cold.

:class:`ZygoteSpawner` starts ``python -m launcher.zygote`` once (it imports the engine's
heavy modules), then asks it to fork one child per instance; the zygote reports each
child's exit code, which is handed to ``on_exit(pid, code)``. :class:`ColdSpawner` runs
``python -m MODULE ARGV`` with ``subprocess`` — the baseline the benchmark compares
against, and a fallback. Neither goes through a shell.
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from typing import Any, Callable, Mapping, Protocol, Sequence

from launcher.zygote import recv_frame, runner_for, send_frame

log = logging.getLogger(__name__)

ExitCallback = Callable[[int, "int | None"], None]


class SpawnError(RuntimeError):
    """The process could not be started (or the fork server is gone)."""


class Spawner(Protocol):
    def spawn(self, argv: Sequence[str], env: Mapping[str, str], log_path: str) -> int: ...

    def validate(self, argv: Sequence[str]) -> None: ...

    def close(self) -> None: ...


class ZygoteSpawner:
    """Client of the fork server; thread-safe."""

    def __init__(self, engine: str, on_exit: ExitCallback | None = None,
                 ready_timeout: float = 300.0, python: str | None = None) -> None:
        runner_for(engine)  # fail fast on an unknown engine
        self.engine = engine
        self.on_exit = on_exit
        self._sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        env = dict(os.environ)
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        t0 = time.monotonic()
        self._proc = subprocess.Popen(
            [python or sys.executable, "-m", "launcher.zygote", "--fd", str(theirs.fileno()), "--engine", engine],
            pass_fds=(theirs.fileno(),), env=env, stdin=subprocess.DEVNULL,
        )
        theirs.close()
        self._send_lock = threading.Lock()
        self._pending: dict[int, Future[dict[str, Any]]] = {}
        self._rids = itertools.count(1)
        self._ready: Future[dict[str, Any]] = Future()
        self._closed = False
        self._reader = threading.Thread(target=self._read_loop, name=f"zygote-reader-{engine}", daemon=True)
        self._reader.start()
        try:
            info = self._ready.result(timeout=ready_timeout)
        except Exception as exc:
            self.close()
            raise SpawnError(f"fork server for engine {engine!r} did not start: {exc}") from exc
        self.preload_s: float = float(info.get("preload_s", 0.0))
        self.start_s = time.monotonic() - t0
        for failure in info.get("failed", []):
            log.warning("fork server %s: preload skipped %s", engine, failure)
        log.info("fork server %s ready (pid %d) after %.1f s (imports %.1f s)",
                 engine, self._proc.pid, self.start_s, self.preload_s)

    @property
    def pid(self) -> int:
        return self._proc.pid

    def _read_loop(self) -> None:
        while True:
            try:
                msg = recv_frame(self._sock)
            except (OSError, ValueError) as exc:
                msg = None
                if not self._closed:
                    log.error("fork server %s: connection broken: %s", self.engine, exc)
            if msg is None:
                err = SpawnError(f"fork server for engine {self.engine!r} exited")
                if not self._ready.done():
                    self._ready.set_exception(err)
                for fut in list(self._pending.values()):
                    if not fut.done():
                        fut.set_exception(err)
                return
            if msg.get("event") == "ready":
                self._ready.set_result(msg)
            elif msg.get("event") == "exit":
                if self.on_exit is not None:
                    try:
                        self.on_exit(int(msg["pid"]), msg.get("code"))
                    except Exception:
                        log.exception("exit callback failed for pid %s", msg.get("pid"))
            elif "re" in msg:
                fut = self._pending.pop(msg["re"], None)
                if fut is not None:
                    fut.set_result(msg)

    def _ask(self, msg: dict[str, Any], timeout: float) -> dict[str, Any]:
        if self._closed:
            raise SpawnError("fork server is closed")
        rid = next(self._rids)
        fut: Future[dict[str, Any]] = Future()
        self._pending[rid] = fut
        msg["rid"] = rid
        try:
            with self._send_lock:
                send_frame(self._sock, msg)
        except OSError as exc:
            self._pending.pop(rid, None)
            raise SpawnError(f"fork server unreachable: {exc}") from exc
        try:
            return fut.result(timeout=timeout)
        finally:
            self._pending.pop(rid, None)

    def spawn(self, argv: Sequence[str], env: Mapping[str, str], log_path: str) -> int:
        reply = self._ask({"op": "spawn", "argv": list(argv), "env": dict(env), "log": log_path}, timeout=30)
        if not reply.get("ok"):
            raise SpawnError(str(reply.get("error")))
        return int(reply["pid"])

    def validate(self, argv: Sequence[str]) -> None:
        """Run the engine's own argument parser on ``argv``; ValueError with its message."""
        reply = self._ask({"op": "validate", "argv": list(argv)}, timeout=30)
        if not reply.get("ok"):
            raise ValueError(str(reply.get("error")))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


class ColdSpawner:
    """``python -m MODULE ARGV`` per instance (no preload); exit codes via waiter threads."""

    def __init__(self, engine: str, on_exit: ExitCallback | None = None, python: str | None = None) -> None:
        self.runner = runner_for(engine)
        self.engine = engine
        self.on_exit = on_exit
        self.python = python or sys.executable
        self._procs: dict[int, subprocess.Popen[bytes]] = {}

    def spawn(self, argv: Sequence[str], env: Mapping[str, str], log_path: str) -> int:
        cmd = [self.python, "-m", self.runner.module, *self.runner.argv_prefix, *argv]
        with open(log_path, "ab") as out:
            try:
                proc = subprocess.Popen(cmd, env=dict(env), stdout=out, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
            except OSError as exc:
                raise SpawnError(f"cannot run {cmd[0]}: {exc}") from exc
        self._procs[proc.pid] = proc
        threading.Thread(target=self._wait, args=(proc,), name=f"cold-wait-{proc.pid}", daemon=True).start()
        return proc.pid

    def _wait(self, proc: subprocess.Popen[bytes]) -> None:
        code = proc.wait()
        self._procs.pop(proc.pid, None)
        if self.on_exit is not None:
            self.on_exit(proc.pid, code)

    def validate(self, argv: Sequence[str]) -> None:
        if self.runner.validator is not None:
            try:
                self.runner.validator(list(argv))
            except SystemExit as exc:
                raise ValueError(f"rejected (exit {exc.code})") from None

    def close(self) -> None:
        pass
