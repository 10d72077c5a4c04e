"""Run an ``fma`` command with cProfile (per-thread CPU time) in every thread; merged stats go to $FMA_PROFILE_OUT on exit.

``python -m fma.bench._profiled controller --kubeconfig ...`` is how ``fma bench churn
--profile-controller FILE`` profiles the controller process (cProfile alone sees only the
main thread, and the controller works in its worker and watch threads).
"""

from __future__ import annotations

import cProfile
import os
import pstats
import signal
import sys
import threading
import time

_profiles: list[cProfile.Profile] = []
_lock = threading.Lock()


def _patch_threads() -> None:
    original = threading.Thread.run

    def run(self: threading.Thread) -> None:
        prof = cProfile.Profile(time.thread_time)
        with _lock:
            _profiles.append(prof)
        prof.enable()
        try:
            original(self)
        finally:
            prof.disable()

    threading.Thread.run = run  # type: ignore[method-assign]


def _dump(main: cProfile.Profile) -> None:
    main.disable()
    out = os.environ.get("FMA_PROFILE_OUT", "fma-profile.pstats")
    with _lock:
        profs = [main, *_profiles]
    for p in profs:
        p.disable()
    stats = pstats.Stats(profs[0])
    for p in profs[1:]:
        try:
            stats.add(p)
        except TypeError:  # a profile that never ran
            pass
    stats.dump_stats(out)


def main() -> None:
    from fma.cli import main as fma_main

    _patch_threads()
    prof = cProfile.Profile(time.thread_time)
    signal.signal(signal.SIGTERM, lambda *_: (_dump(prof), os._exit(0)))
    prof.enable()
    try:
        code = fma_main(sys.argv[1:])
    finally:
        _dump(prof)
    sys.exit(code)


if __name__ == "__main__":
    main()
