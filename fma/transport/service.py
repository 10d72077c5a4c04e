"""What a ROUTER-facing service fed by an event log needs, once: drain the ROUTER on the IO
loop, follow the log with a :class:`LogFeed` whose wake-ups are coalesced into one pass on
the loop, and start/stop both in the right order. The host endpoint and the debug socket
build on it; each says only what a frame means and what to do with new records."""

from __future__ import annotations

from typing import Self, Sequence

import zmq

from fma.actors import LogFeed
from fma.events import EventLog, Record
from fma.transport.loop import IOLoop, drain

DRAIN_BATCH = 1000  # frames taken per readiness callback before other sockets get a turn


class LogFedService:
    loop: IOLoop
    router: zmq.Socket

    def _init_service(self, loop: IOLoop, router: zmq.Socket, feed_log: EventLog | None) -> None:
        self.loop = loop
        self.router = router
        self._feed_log = feed_log
        self._feed: LogFeed | None = None
        self._feed_scheduled = False
        loop.add_reader(router, self._drain_router)

    # --- life ----------------------------------------------------------------------------
    def start(self) -> Self:
        if self._feed_log is not None:
            self._feed = LogFeed(self._feed_log, wake=self._wake_feed)
        self.loop.start()
        return self

    def stop(self) -> None:
        if self._feed is not None:
            self._feed.close()
        self.loop.stop()
        self._after_stop()

    def _after_stop(self) -> None:
        """Hook: release what the subclass holds beyond the loop."""

    # --- the ROUTER ----------------------------------------------------------------------
    def _drain_router(self) -> None:
        drain(self.router, self._on_frames, DRAIN_BATCH)

    def _on_frames(self, frames: list[bytes]) -> None:
        raise NotImplementedError

    # --- the log -------------------------------------------------------------------------
    def _wake_feed(self) -> None:  # any thread; many appends, one pass on the loop
        if not self._feed_scheduled:
            self._feed_scheduled = True
            self.loop.call_soon(self._catch_up)

    def _catch_up(self) -> None:
        self._feed_scheduled = False
        assert self._feed is not None
        self._on_records(self._feed.poll())

    def _on_records(self, records: Sequence[Record]) -> None:
        raise NotImplementedError
