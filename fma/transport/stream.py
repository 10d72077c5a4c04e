"""Event streams from a remote host: PUB/SUB for speed, ``$read`` to fill any gap."""

from __future__ import annotations

import logging
import queue
import threading
from typing import TYPE_CHECKING, Any, Callable, Iterator

from fma.actors.messages import ActorError
from fma.events import Record, RecordError
from fma.transport.codec import EnvelopeError, decode

if TYPE_CHECKING:
    from fma.transport.client import RemoteHost

log = logging.getLogger(__name__)


class EventStream:
    """Records of one remote host, in seq order, each once, filtered by actor prefix,
    machine and destination state. Iterate, ``get(timeout)``, or pass a callback."""

    def __init__(self, hub: "StreamHub", callback: Callable[[Record], None] | None, prefix: str,
                 machine: str | None, state: str | None, since: int) -> None:
        self._hub = hub
        self._callback = callback
        self.prefix = prefix
        self.machine = machine
        self.state = state
        self.last = since  # last seq seen (matching or not)
        self.delivered = 0
        self._q: queue.Queue[Record | None] = queue.Queue()
        self.closed = False

    def matches(self, rec: Record) -> bool:
        return (rec.actor.startswith(self.prefix) and (self.machine is None or rec.machine == self.machine)
                and (self.state is None or rec.dst == self.state))

    def _deliver(self, rec: Record) -> None:
        if rec.seq != self.last + 1:
            return
        self.last = rec.seq
        if not self.matches(rec):
            return
        self.delivered += 1
        if self._callback is None:
            self._q.put(rec)
            return
        try:
            self._callback(rec)
        except Exception:
            log.exception("event stream callback failed on seq %d", rec.seq)

    def get(self, timeout: float | None = None) -> Record:
        """The next record; raises ``queue.Empty`` after ``timeout`` (or when closed)."""
        rec = self._q.get(timeout=timeout)
        if rec is None:
            self._q.put(None)
            raise queue.Empty("stream closed")
        return rec

    def __iter__(self) -> Iterator[Record]:
        while True:
            rec = self._q.get()
            if rec is None:
                self._q.put(None)
                return
            yield rec

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._hub.remove(self)
            self._q.put(None)

    def __enter__(self) -> "EventStream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class StreamHub:
    """All streams of one :class:`RemoteHost`; one dispatcher thread delivers and catches up."""

    def __init__(self, client: "RemoteHost") -> None:
        self.client = client
        self._streams: list[EventStream] = []
        self._q: queue.Queue[tuple[Any, ...] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=f"fma-streams-{client.sender}", daemon=True)
        self._thread.start()
        self.gaps_filled = 0

    def open(self, callback: Callable[[Record], None] | None, *, prefix: str, machine: str | None,
             state: str | None, since: int | None, timeout: float) -> EventStream:
        hello = self._hello(timeout)
        stream = EventStream(self, callback, prefix, machine, state,
                             hello["last_seq"] if since is None else max(0, since))
        self._q.put(("open", stream, hello["last_seq"]))
        return stream

    def _hello(self, timeout: float) -> dict[str, Any]:
        hello = self.client.ask(None, "$hello", timeout=timeout)
        pub = hello.get("pub")
        if not pub:
            raise ActorError(f"host {self.client.address} publishes no event stream")
        host_part, port = pub.rsplit(":", 1)
        if pub.startswith("tcp://") and host_part[len("tcp://"):] in ("0.0.0.0", "*", "[::]"):
            pub = self.client.address.rsplit(":", 1)[0] + ":" + port
        self.client.loop.call_soon(lambda: self.client._connect_sub(pub, self._on_frames))
        return hello

    def remove(self, stream: EventStream) -> None:
        self._q.put(("remove", stream))

    # called on the client's IO thread
    def _on_frames(self, frames: list[bytes]) -> None:
        try:
            env = decode(frames[-1], 1 << 30)
            rec = Record.from_dict(env.body)
        except (EnvelopeError, RecordError) as exc:
            log.warning("event stream from %s: bad frame: %s", self.client.address, exc)
            return
        self._q.put(("rec", rec))

    def tick(self, last_seq: Any) -> None:
        if isinstance(last_seq, int):
            self._q.put(("tick", last_seq))

    def peer_up(self) -> None:
        self._q.put(("up",))

    def close(self) -> None:
        self._q.put(None)
        if threading.current_thread() is not self._thread:
            self._thread.join(2.0)
        for s in list(self._streams):
            s.closed = True
            s._q.put(None)

    # dispatcher thread
    def _run(self) -> None:
        while True:
            item = self._q.get()
            if item is None:
                return
            try:
                self._step(item)
            except Exception:
                log.exception("event streams of %s: dispatcher step failed", self.client.address)

    def _step(self, item: tuple[Any, ...]) -> None:
        kind = item[0]
        if kind == "rec":
            rec = item[1]
            for s in self._streams:
                if rec.seq > s.last + 1:
                    self._catch_up(s, rec.seq - 1)
                s._deliver(rec)
        elif kind == "tick":
            for s in self._streams:
                if item[1] < s.last:
                    log.warning("host %s: log went back from seq %d to %d (restarted with a new log); "
                                "stream starts over", self.client.address, s.last, item[1])
                    s.last = 0
                self._catch_up(s, item[1])
        elif kind == "open":
            self._streams.append(item[1])
            self._catch_up(item[1], item[2])
        elif kind == "remove":
            if item[1] in self._streams:
                self._streams.remove(item[1])
        elif kind == "up" and self._streams:
            try:
                hello = self._hello(self.client.heartbeat_s * 3)
            except ActorError as exc:
                log.info("event streams of %s: hello after reconnect failed: %s", self.client.address, exc)
                return
            self._step(("tick", hello["last_seq"]))

    def _catch_up(self, s: EventStream, until: int) -> None:
        while s.last < until and not s.closed:
            try:
                resp = self.client.ask(None, "$read", {"since": s.last, "until": until}, timeout=5.0)
            except ActorError as exc:
                log.info("event stream: catching up %d..%d from %s failed: %s", s.last + 1, until, self.client.address, exc)
                return
            records = resp.get("records", [])
            if not records:
                return
            self.gaps_filled += 1
            for d in records:
                s._deliver(Record.from_dict(d))
