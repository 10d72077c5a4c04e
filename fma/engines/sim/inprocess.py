"""Run a simulated server on a thread of this process (tests, ``fma local``): no process
start-up cost, same HTTP surface. ``InProcessSim(cfg).start()`` blocks until it serves."""

from __future__ import annotations

import asyncio
import threading
import time

from fma.engines.sim.server import SimConfig, SimServer, serve


class InProcessSim:
    def __init__(self, cfg: SimConfig) -> None:
        self.cfg = cfg
        self.url = f"http://{cfg.host}:{cfg.port}"
        self.server: SimServer | None = None
        self.exit_code: int | None = None
        self.ready_after: float | None = None  # wall seconds from start() to serving
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"sim-{cfg.port}", daemon=True)

    def _run(self) -> None:
        async def main() -> int:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()

            def ready(server: SimServer) -> None:
                self.server = server
                self.ready_after = time.monotonic() - self._t0
                self._ready.set()

            return await serve(self.cfg, self._stop, ready)

        try:
            self.exit_code = asyncio.run(main())
        finally:
            self._ready.set()

    def start(self, timeout: float = 30.0) -> "InProcessSim":
        self._t0 = time.monotonic()
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"simulated server on port {self.cfg.port} not serving after {timeout}s")
        if self.server is None:
            raise RuntimeError(f"simulated server on port {self.cfg.port} failed to start (exit {self.exit_code})")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)

    def __enter__(self) -> "InProcessSim":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
