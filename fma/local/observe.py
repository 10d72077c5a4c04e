"""What ``fma local`` watches: requesters' times to Ready and how each was started.

The observer is fed every pod event and works out, for each requester, the start kind
from the objects alone (not from the controller's word):

* direct mode — the provider (the requester's ``dual`` label) existed before the
  requester was created: **hot** (a sleeper was woken); made for it: **cold**;
* launcher mode — the launcher pod was made for this requester: **cold**; the launcher
  already ran and had held this instance id before: **hot**; otherwise **warm**.

It also counts sleeps (a provider or launcher instance labelled ``sleeping=true``) and
keeps a short list of recent happenings for the live view.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from fma.local.placement import ANN_GPUS
from fma.local.timeline import Timeline

PREFIX = "dual-pods.llm-d.ai/"
LBL_DUAL = PREFIX + "dual"
LBL_INSTANCE = PREFIX + "instance"
LBL_SLEEPING = PREFIX + "sleeping"
LBL_LAUNCHER_CONFIG = PREFIX + "launcher-config-name"
ANN_REQUESTER = PREFIX + "requester"
ANN_STATUS = PREFIX + "status"
ANN_ACCELERATORS = PREFIX + "accelerators"
ROLE = "fma.llm-d.ai/local-role"


@dataclass
class Requester:
    name: str
    mode: str
    model: str
    gpus: int
    created: float
    expect: str = ""
    uid: str = ""
    ready_at: float | None = None
    deleted_at: float | None = None
    gone_at: float | None = None
    node: str = ""
    provider: str = ""
    instance: str = ""
    start: str = ""
    status_note: str = ""
    status_since: float | None = None  # when the current status error was first seen

    @property
    def ready_seconds(self) -> float | None:
        return None if self.ready_at is None else self.ready_at - self.created


def is_ready(pod: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


@dataclass
class Observer:
    clock: Callable[[], float] = time.monotonic
    pods: dict[str, dict[str, Any]] = field(default_factory=dict)
    first_seen: dict[str, float] = field(default_factory=dict)
    requesters: dict[str, Requester] = field(default_factory=dict)
    seen_instances: set[tuple[str, str]] = field(default_factory=set)
    sleeping: dict[str, bool] = field(default_factory=dict)
    sleeps: int = 0
    recent: deque = field(default_factory=lambda: deque(maxlen=12))
    on_note: Callable[[str], None] | None = None
    timeline: Timeline = field(default_factory=Timeline)
    bound: dict[str, str] = field(default_factory=dict)  # requester -> server it is bound to (timeline key)
    # the controller's own word on a requester's start (hot/warm/evict/cold), when it is known
    decided_start: Callable[[str], str | None] | None = None

    def __post_init__(self) -> None:
        self.cond = threading.Condition()

    def note(self, text: str) -> None:
        self.recent.append((time.strftime("%H:%M:%S"), text))
        if self.on_note is not None:
            self.on_note(text)

    def expect_requester(self, r: Requester) -> None:
        with self.cond:
            self.requesters[r.name] = r

    def on_pod(self, typ: str, pod: dict[str, Any]) -> None:
        with self.cond:
            self._on_pod(typ, pod)
            self.cond.notify_all()

    def _on_pod(self, typ: str, pod: dict[str, Any]) -> None:
        meta = pod.get("metadata") or {}
        name = str(meta.get("name"))
        now = self.clock()
        if typ == "DELETED":
            self.pods.pop(name, None)
            self.first_seen.pop(name, None)
            r = self.requesters.get(name)
            if r is not None and r.gone_at is None and (not r.uid or r.uid == meta.get("uid")):
                r.gone_at = now
                self.note(f"requester {name} gone")
            self._server_left(name, now)
            for server in [k for k in self.timeline.open if k == name or k.startswith(name + "/")]:
                self.timeline.set(server, "gone", now)
            return
        self.pods[name] = pod
        self.first_seen.setdefault(name, now)
        labels = meta.get("labels") or {}
        sleeping = labels.get(LBL_SLEEPING) == "true"
        if sleeping and not self.sleeping.get(name):
            self.sleeps += 1
            self.note(f"{name} asleep")
        self.sleeping[name] = sleeping
        if sleeping and self.timeline.state_of(name) not in (None, "asleep"):
            self.timeline.set(name, "asleep", now)
        r = self.requesters.get(name)
        if r is None:
            return
        r.uid = r.uid or str(meta.get("uid") or "")
        r.node = (pod.get("spec") or {}).get("nodeName") or r.node
        err = (meta.get("annotations") or {}).get(ANN_STATUS)
        if err and err != r.status_note:
            r.status_note = err
            r.status_since = now
            self.note(f"requester {name} status: {err}")
        elif not err:
            r.status_since = None
        self._track_server(r, pod, now)
        if r.ready_at is None and is_ready(pod):
            r.ready_at = now
            r.provider = labels.get(LBL_DUAL, "")
            r.instance = labels.get(LBL_INSTANCE, "")
            r.start = self._start_kind(r)
            self.note(f"requester {name} Ready in {r.ready_seconds:.2f}s — {r.start} start"
                      + (f" on {r.provider}" if r.provider else ""))

    def _track_server(self, r: Requester, pod: dict[str, Any], now: float) -> None:
        """The timeline of the server this requester is bound to: starting, then awake."""
        meta = pod.get("metadata") or {}
        labels, ann = meta.get("labels") or {}, meta.get("annotations") or {}
        dual = labels.get(LBL_DUAL)
        if meta.get("deletionTimestamp"):
            return
        if not dual:
            self._server_left(r.name, now)
            return
        server = f"{dual}/{labels[LBL_INSTANCE][:10]}" if r.mode == "launcher" and labels.get(LBL_INSTANCE) else dual
        self.bound[r.name] = server
        gpus = [g for g in (ann.get(ANN_GPUS) or ann.get(ANN_ACCELERATORS) or "").split(",") if g]
        self.timeline.set(server, "awake" if is_ready(pod) else "starting", now,
                          label=f"{r.model.rsplit('/', 1)[-1]} · {r.name}", node=r.node, gpus=gpus)

    def _server_left(self, requester: str, now: float) -> None:
        """A requester left its server: a launcher's instance is put to sleep (a direct
        provider says so itself with its ``sleeping`` label)."""
        server = self.bound.pop(requester, None)
        if server is not None and "/" in server and self.timeline.state_of(server) not in (None, "asleep"):
            self.timeline.set(server, "asleep", now)
            self.sleeps += 1
            self.note(f"instance {server} asleep")

    def _start_kind(self, r: Requester) -> str:
        prov_seen = self.first_seen.get(r.provider)
        if not r.provider or prov_seen is None:
            return "unknown"
        decided = self.decided_start(r.name) if self.decided_start is not None else None
        if decided in ("hot", "warm", "cold", "evict"):
            if r.mode != "direct":
                self.seen_instances.add((r.provider, r.instance))
            return "warm" if decided == "evict" else decided  # evict: a new instance after evicting sleepers
        if r.mode == "direct":
            return "hot" if prov_seen < r.created else "cold"
        key = (r.provider, r.instance)
        if prov_seen >= r.created:
            kind = "cold"
        elif key in self.seen_instances:
            kind = "hot"
        else:
            kind = "warm"
        self.seen_instances.add(key)
        return kind

    def wait(self, pred: Callable[[], bool], timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(pred, timeout=timeout)

    def ready_launchers(self) -> int:
        """Launcher pods (``launcher-config-name`` label) that are Ready now."""
        with self.cond:
            return sum(1 for p in self.pods.values()
                       if LBL_LAUNCHER_CONFIG in ((p.get("metadata") or {}).get("labels") or {}) and is_ready(p))

    def counts(self) -> dict[str, int]:
        out = {"hot": 0, "warm": 0, "cold": 0}
        for r in self.requesters.values():
            if r.start in out:
                out[r.start] += 1
        return out


class ControllerStarts:
    """How the controller bound each requester, from its event-log file (CONTRACTS.md B1
    ``binding`` records: the ``bind`` event's ``start``). Pods alone cannot tell a woken
    launcher instance from one recreated with the same id after an eviction; the
    controller's decision can."""

    def __init__(self, path: str, namespace: str) -> None:
        self.path = path
        self.prefix = f"binding/{namespace}/"
        self.starts: dict[str, str] = {}
        self._offset = 0  # how far the file has been read

    def __call__(self, requester: str) -> str | None:
        self._refresh()
        return self.starts.get(requester)

    def _refresh(self) -> None:
        from fma.events import read_log_from

        try:
            records, self._offset = read_log_from(self.path, self._offset)
        except (OSError, ValueError):  # not there yet, or unreadable: keep what we have
            return
        for rec in records:
            _seq, _ts, actor, machine, event, _src, _dst, data, _v = rec
            if machine == "binding" and event == "bind" and actor.startswith(self.prefix) \
                    and isinstance(data, dict) and data.get("start"):
                self.starts[actor[len(self.prefix):]] = str(data["start"])
