"""fma local's process supervisor: nothing it started outlives it."""

from __future__ import annotations

import os
import sys
import time

from fma.local.procs import Supervisor, descendants


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# a child that forks a grandchild in a NEW session (escaping the process group) and ignores SIGTERM
STUBBORN = """
import os, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
pid = os.fork()
if pid == 0:
    os.setsid()
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(60)
    os._exit(0)
open(sys.argv[1], "w").write(str(pid))
time.sleep(60)
"""


def test_close_kills_processes_that_ignore_sigterm_and_their_escaped_grandchildren(tmp_path) -> None:
    sup = Supervisor()
    marker = tmp_path / "gc"
    p = sup.start("stubborn", [sys.executable, "-c", STUBBORN, str(marker)], env=dict(os.environ))
    deadline = time.monotonic() + 10
    while not marker.exists() or not marker.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    grandchild = int(marker.read_text())
    assert grandchild in descendants(p.pid)
    t0 = time.monotonic()
    sup.close(grace=0.5)
    assert time.monotonic() - t0 < 5
    time.sleep(0.1)
    assert not alive(p.pid) and not alive(grandchild)
    assert sup.live() == []


def test_exit_is_reported_with_its_code(tmp_path) -> None:
    got = []
    sup = Supervisor()
    try:
        sup.start("x", [sys.executable, "-c", "raise SystemExit(7)"], env=dict(os.environ), on_exit=got.append)
        deadline = time.monotonic() + 10
        while not got:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert got[0].exit_code == 7
    finally:
        sup.close()
