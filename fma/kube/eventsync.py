"""Copy selected event-log records into Kubernetes Events, so ``kubectl describe`` shows them.

    sync = EventSync(Rest(api), log).start()   # subscribes to the fma.events log
    ...
    sync.stop(); sync.stats                    # {'seen', 'queued', 'sent', 'dropped', ...}

Which records: :data:`DEFAULT_RULES` maps ``(machine, event)`` to an Event ``reason`` and
``type`` (binding decisions, instance/provider failures, stuck launchers); pass ``rules``
to choose others. On which object: :func:`involved_from_actor` derives it from the actor
path (CONTRACTS.md B1): ``binding/<ns>/<requester>`` and ``provider/<ns>/<pod>`` are
Pods, ``launcher/<node>`` and ``instance/<node>/<id>`` are Nodes; pass ``resolver`` for
others. The object is read once per Event so that its ``uid`` is set (``kubectl describe``
selects Events by uid); a missing object still gets its Event, without uid.

The log writer never waits: the listener only filters and puts into a bounded queue
(``dropped`` counts what did not fit); one worker thread posts Events, at most ``rate``
per second with bursts of ``burst``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from fma.events import EventLog, Record, Subscription
from fma.kube.client import KubeError, NotFound, Rest
from fma.kube.events import record_event

log = logging.getLogger(__name__)
Obj = dict[str, Any]


@dataclass(frozen=True)
class Rule:
    """How one kind of record reads as a Kubernetes Event."""
    reason: str
    type: str = "Normal"  # or "Warning"


DEFAULT_RULES: Mapping[tuple[str, str], Rule] = {
    ("binding", "bind"): Rule("Binding"),
    ("binding", "serving"): Rule("Bound"),
    ("binding", "released"): Rule("Unbound"),
    ("binding", "abandoned"): Rule("BindingAbandoned", "Warning"),
    ("binding", "lost"): Rule("ProviderLost", "Warning"),
    ("instance", "crashed"): Rule("InstanceFailed", "Warning"),
    ("instance", "swap_failed"): Rule("SwapFailed", "Warning"),
    ("provider", "crashed"): Rule("ProviderFailed", "Warning"),
    ("provider", "vanished"): Rule("ProviderVanished", "Warning"),
    ("launcher", "stuck"): Rule("LauncherStuck", "Warning"),
}

Resolver = Callable[[Record], "Involved | None"]


@dataclass(frozen=True)
class Involved:
    """The object an Event is about."""
    kind: str
    name: str
    namespace: str | None = None  # None: cluster-scoped
    plural: str = "pods"


def involved_from_actor(record: Record) -> Involved | None:
    """Pod or Node named by the record's actor path; None for paths of another shape."""
    parts = record.actor.split("/")
    head = parts[0]
    if head in ("binding", "provider") and len(parts) == 3 and parts[1] and parts[2]:
        return Involved("Pod", parts[2], parts[1], "pods")
    if head == "launcher" and len(parts) == 2 and parts[1]:
        return Involved("Node", parts[1], None, "nodes")
    if head == "instance" and len(parts) == 3 and parts[1]:
        return Involved("Node", parts[1], None, "nodes")
    return None


def describe(record: Record, limit: int = 1024) -> str:
    """``<actor> <event>: <src> -> <dst> (k=v, ...)`` — the Event message, at most ``limit`` chars."""
    msg = f"{record.actor} {record.event}: {record.src} -> {record.dst}"
    items = [f"{k}={v}" for k, v in sorted(record.data.items()) if isinstance(v, (str, int, float, bool))]
    if items:
        msg += " (" + ", ".join(items) + ")"
    return msg if len(msg) <= limit else msg[:limit - 3] + "..."


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved; :meth:`delay` says how long to wait."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"rate must be > 0 and burst >= 1, got rate={rate} burst={burst}")
        self.rate, self.burst, self.clock = rate, float(burst), clock
        self.tokens, self.last = float(burst), clock()

    def delay(self) -> float:
        """Take a token if one is there (returns 0), else the seconds until one will be."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class EventSync:
    """Subscribes to ``events`` and posts Kubernetes Events for the records ``rules`` select."""

    def __init__(self, rest: Rest, events: EventLog, rules: Mapping[tuple[str, str], Rule] = DEFAULT_RULES,
                 resolver: Resolver = involved_from_actor, rate: float = 10.0, burst: int = 20,
                 queue_size: int = 1000, component: str = "fma", lookup_uid: bool = True) -> None:
        self.rest, self.events, self.rules, self.resolver = rest, events, dict(rules), resolver
        self.bucket = TokenBucket(rate, burst)
        self.component, self.lookup_uid = component, lookup_uid
        self._queue: queue.Queue[Record] = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._sub: Subscription | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stats = {"seen": 0, "queued": 0, "dropped": 0, "sent": 0, "failed": 0, "unresolved": 0}

    @property
    def stats(self) -> dict[str, int]:
        with self._lock:
            return dict(self._stats)

    def _count(self, key: str) -> None:
        with self._lock:
            self._stats[key] += 1

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "EventSync":
        self._thread = threading.Thread(target=self._work, name="fma-eventsync", daemon=True)
        self._thread.start()
        self._sub = self.events.subscribe(self._on_record)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Unsubscribe and end the worker; records still queued are not posted."""
        if self._sub is not None:
            self._sub.close()
            self._sub = None
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> "EventSync":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ------------------------------------------------------------------ log side (never blocks)
    def _on_record(self, record: Record) -> None:
        if (record.machine, record.event) not in self.rules:
            return
        self._count("seen")
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self._count("dropped")
            return
        self._count("queued")

    # ------------------------------------------------------------------ worker side
    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                record = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            wait = self.bucket.delay()
            while wait > 0:
                if self._stop.wait(wait):
                    return
                wait = self.bucket.delay()
            try:
                self._post(record)
            except Exception:  # noqa: BLE001 - one bad record must not end the worker
                log.exception("cannot turn record %d of %s into a Kubernetes Event", record.seq, record.actor)
                self._count("failed")

    def _post(self, record: Record) -> None:
        target = self.resolver(record)
        if target is None:
            log.debug("record %d: no Kubernetes object for actor %s", record.seq, record.actor)
            self._count("unresolved")
            return
        rule = self.rules[(record.machine, record.event)]
        obj: Obj = {"apiVersion": "v1", "kind": target.kind,
                    "metadata": {"name": target.name, **({"namespace": target.namespace} if target.namespace else {})}}
        if self.lookup_uid:
            try:
                obj = self.rest.get(target.plural, target.namespace, target.name)
                obj.setdefault("kind", target.kind)
            except NotFound:
                pass
            except KubeError as exc:
                log.debug("cannot read %s %s: %s", target.kind, target.name, exc)
        out = record_event(self.rest, obj, rule.reason, describe(record), rule.type, component=self.component)
        self._count("sent" if out is not None else "failed")
