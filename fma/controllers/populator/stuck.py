"""Stuck launchers: unscheduled past one threshold, or scheduled but not Ready past another.

Pure: the clock is an argument. A stuck launcher is kept (it still counts), labelled
``launcher-stuck=true`` and reported once with a Warning Event; the label goes when it
recovers. ``since + threshold`` is when the verdict can next change, so the caller can
wake up then instead of polling.
"""

from __future__ import annotations

from dataclasses import dataclass

from fma.controllers.populator.launchers import LauncherView

STUCK_SCHEDULING = "stuck_scheduling"
STUCK_STARTING = "stuck_starting"


@dataclass(frozen=True)
class Thresholds:
    scheduling: float = 120.0  # seconds unscheduled
    starting: float = 450.0    # seconds scheduled but not Ready (7 m 30 s)


@dataclass(frozen=True)
class Verdict:
    reason: str | None         # None = not stuck
    message: str = ""
    recheck_at: float | None = None  # when the verdict may change by the clock alone


def judge(view: LauncherView, now: float, th: Thresholds) -> Verdict:
    if view.ready or view.deleting:
        return Verdict(None)
    if view.scheduled_at is None:
        since, limit, reason, what = view.created, th.scheduling, STUCK_SCHEDULING, "unscheduled"
    else:
        since = max(view.scheduled_at, view.unready_since or 0.0)
        limit, reason, what = th.starting, STUCK_STARTING, "scheduled but not Ready"
    waited = now - since
    if waited >= limit:
        return Verdict(reason, f"launcher {view.name} on node {view.node} {what} for {waited:.0f}s "
                               f"(threshold {limit:.0f}s): {reason}")
    return Verdict(None, recheck_at=since + limit)


def parse_duration(text: str) -> float:
    """``2m``, ``7m30s``, ``90s``, ``1h``, ``450`` (seconds) -> seconds."""
    import re

    s = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", s):
        return float(s)
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", s)
    if not parts or "".join(n + u for n, u in parts) != s:
        raise ValueError(f"not a duration: {text!r} (want e.g. 2m, 7m30s, 90s)")
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    return sum(float(n) * scale[u] for n, u in parts)
