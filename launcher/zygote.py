"""The fork server ("zygote"): a single-threaded process that imports an engine's heavy
modules once and then forks one child per instance.

Run as ``python -m launcher.zygote --fd N --engine vllm|sim|module``; ``N`` is one end of a
socketpair whose other end the launcher holds (see :mod:`launcher.spawner`). Frames are a
4-byte big-endian length plus a JSON object.

Requests: ``{op: "spawn", rid, argv, env, log, cwd?}`` -> ``{re: rid, ok, pid | error}``;
``{op: "validate", rid, argv}`` -> ``{re: rid, ok, error?}``; ``{op: "ping", rid}``.
Unsolicited: ``{event: "ready", preload_s}`` once the preload is done and
``{event: "exit", pid, code}`` when a child ends (``code`` < 0: killed by that signal).

A child: ``setsid()`` (its own process group, so a stop reaches vLLM's own children),
environment replaced by the request's, stdout/stderr appended to its log file, then the
engine's entry module runs as ``__main__`` with the request's argv — the same code path as
``python -m MODULE ARGV``, without the import cost. The zygote never starts threads, so
forking it is safe; when the launcher goes away (EOF) it exits and leaves its children
running (they are re-adopted by the next launcher).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import random
import runpy
import selectors
import signal
import socket
import struct
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from fma.engines import preload

_HDR = struct.Struct(">I")
MAX_FRAME = 16 * 1024 * 1024


@dataclass(frozen=True)
class Runner:
    """How an engine is preloaded, validated and run in a forked child."""

    module: str  # run as __main__ in the child
    preload: tuple[str, ...] = ()
    argv_prefix: tuple[str, ...] = ()
    prepare: Callable[[], None] | None = None  # in the zygote, after the imports
    child_setup: Callable[[], None] | None = None  # in each child, before the module runs
    validator: Callable[[list[str]], None] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _vllm_validate(argv: list[str]) -> None:
    from fma.engines.options import validate_with_vllm

    validate_with_vllm(argv)


def _sim_validate(argv: list[str]) -> None:
    from fma.engines.options import parse_options

    parse_options(argv)


RUNNERS: dict[str, Runner] = {
    "vllm": Runner(
        module=preload.VLLM_MODULE,
        preload=preload.VLLM_PRELOAD,
        prepare=preload.prepare_vllm_fork,
        validator=_vllm_validate,
    ),
    "sim": Runner(
        module=preload.SIM_MODULE,
        preload=preload.SIM_PRELOAD,
        validator=_sim_validate,
    ),
}


def runner_for(engine: str) -> Runner:
    """The runner of a named engine, or ``module:NAME`` to run any module (tests)."""
    if engine.startswith("module:"):
        return Runner(module=engine.split(":", 1)[1])
    try:
        return RUNNERS[engine]
    except KeyError:
        raise ValueError(f"unknown engine {engine!r}; known: {', '.join(sorted(RUNNERS))} or module:NAME") from None


def _send(sock: socket.socket, msg: dict[str, Any]) -> None:
    blob = json.dumps(msg).encode()
    sock.sendall(_HDR.pack(len(blob)) + blob)


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def recv_frame(sock: socket.socket) -> dict[str, Any] | None:
    """One framed JSON object, or None at EOF."""
    head = _recv_exact(sock, _HDR.size)
    if head is None:
        return None
    (length,) = _HDR.unpack(head)
    if length > MAX_FRAME:
        raise ValueError(f"zygote frame of {length} bytes exceeds {MAX_FRAME}")
    body = _recv_exact(sock, length)
    if body is None:
        return None
    return json.loads(body)


send_frame = _send


def _child(sock: socket.socket, wake_w: int, runner: Runner, req: dict[str, Any], started_w: int) -> None:
    """In the forked child: become the instance process. Never returns."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        sock.close()
        os.close(wake_w)
        os.setsid()
        fd = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        os.write(started_w, b"1")  # own group and log in place: the launcher may now signal it
        os.close(started_w)
        os.environ.clear()
        os.environ.update({str(k): str(v) for k, v in req.get("env", {}).items()})
        if req.get("cwd"):
            os.chdir(req["cwd"])
        random.seed()
        if runner.child_setup is not None:
            runner.child_setup()
        sys.argv = [runner.module, *runner.argv_prefix, *req["argv"]]
        try:
            runpy.run_module(runner.module, run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if exc.code not in (None, 0) and not isinstance(exc.code, int):
                print(exc.code, file=sys.stderr)
        except BaseException:
            import traceback

            traceback.print_exc()
            code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def serve(sock: socket.socket, runner: Runner) -> int:
    """The zygote's loop: requests from the launcher, SIGCHLD from children."""
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ, "sock")
    sel.register(wake_r, selectors.EVENT_READ, "chld")
    while True:
        for key, _ in sel.select():
            if key.data == "chld":
                try:
                    os.read(wake_r, 4096)
                except BlockingIOError:
                    pass
                _reap(sock)
                continue
            try:
                req = recv_frame(sock)
            except (ValueError, OSError) as exc:
                print(f"zygote: bad frame from launcher: {exc}", file=sys.stderr)
                return 1
            if req is None:  # the launcher is gone; children live on
                return 0
            _handle(sock, wake_w, runner, req)
            _reap(sock)


def _reap(sock: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        try:
            _send(sock, {"event": "exit", "pid": pid, "code": os.waitstatus_to_exitcode(status)})
        except OSError:
            return


def _handle(sock: socket.socket, wake_w: int, runner: Runner, req: dict[str, Any]) -> None:
    rid = req.get("rid")
    op = req.get("op")
    try:
        if op == "spawn":
            for key in ("argv", "log"):
                if key not in req:
                    raise ValueError(f"spawn request lacks {key!r}")
            started_r, started_w = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(started_r)
                _child(sock, wake_w, runner, req, started_w)
            os.close(started_w)
            try:
                # Reply only once the child leads its own process group, so that a stop
                # sent right after the spawn reaches it (EOF = it died before that).
                import select

                ready, _, _ = select.select([started_r], [], [], 10.0)
                ok = bool(ready) and os.read(started_r, 1) == b"1"
            finally:
                os.close(started_r)
            if not ok:
                log_tail = ""
                try:
                    with open(req["log"], "rb") as fh:
                        log_tail = fh.read()[-500:].decode(errors="replace")
                except OSError:
                    pass
                _send(sock, {"re": rid, "ok": False, "error": f"child {pid} failed to set up: {log_tail}"})
                return
            _send(sock, {"re": rid, "ok": True, "pid": pid})
        elif op == "validate":
            if runner.validator is not None:
                runner.validator(list(req.get("argv", [])))
            _send(sock, {"re": rid, "ok": True})
        elif op == "ping":
            _send(sock, {"re": rid, "ok": True, "pid": os.getpid()})
        else:
            _send(sock, {"re": rid, "ok": False, "error": f"unknown op {op!r}"})
    except SystemExit as exc:  # an argparse that exits instead of raising
        _send(sock, {"re": rid, "ok": False, "error": f"rejected (exit {exc.code})"})
    except Exception as exc:
        _send(sock, {"re": rid, "ok": False, "error": f"{type(exc).__name__}: {exc}"})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="launcher.zygote", description=__doc__.splitlines()[0])
    ap.add_argument("--fd", type=int, required=True, help="inherited socket to the launcher")
    ap.add_argument("--engine", default="sim", help="vllm, sim, or module:NAME")
    args = ap.parse_args(argv)
    sock = socket.socket(fileno=args.fd)
    sock.set_inheritable(False)
    runner = runner_for(args.engine)
    t0 = time.monotonic()
    failed: list[str] = []
    for name in runner.preload:
        try:
            importlib.import_module(name)
        except Exception as exc:  # a missing optional module only costs speed
            failed.append(f"{name}: {type(exc).__name__}: {exc}")
    if runner.prepare is not None:
        runner.prepare()
    _send(sock, {"event": "ready", "preload_s": time.monotonic() - t0, "failed": failed})
    return serve(sock, runner)


if __name__ == "__main__":
    sys.exit(main())
