"""The live view while a scenario runs (a TTY): pods, GPU bytes per GPU, requesters by
start kind, and the most recent happenings. Without a TTY, :func:`plain_note` prints one
log line each."""

from __future__ import annotations

import sys
import time
from typing import Any, Sequence

from fma.local.observe import LBL_DUAL, LBL_INSTANCE, LBL_SLEEPING, ROLE, Observer, is_ready
from fma.local.placement import ANN_GPUS


def _role(pod: dict[str, Any]) -> str:
    labels = (pod.get("metadata") or {}).get("labels") or {}
    if "dual-pods.llm-d.ai/launcher-config-name" in labels:
        return "launcher"
    return labels.get(ROLE) or ("provider" if (pod.get("metadata") or {}).get("annotations", {}).get(
        "dual-pods.llm-d.ai/requester") else "pod")


GiB = 10**9


def gpu_table(rows: Sequence[tuple[str, int, str, int, int]], width: int = 20) -> Any:
    """GPU bytes per GPU: ``rows`` of ``(node, index, uuid, used bytes, capacity)``."""
    from rich.table import Table

    t = Table(title="GPU memory", expand=False)
    for col in ("node", "gpu", "used", "", "uuid"):
        t.add_column(col, overflow="fold")
    for node, index, uuid, used, cap in rows:
        frac = min(1.0, used / cap) if cap else 0.0
        n = round(frac * width)
        color = "red" if frac > 0.9 else ("yellow" if frac > 0.5 else "green")
        t.add_row(node, str(index), f"{used / GiB:.1f} / {cap / GiB:.0f} GB",
                  f"[{color}]{'█' * n}[/][dim]{'·' * (width - n)}[/]", uuid[-12:])
    return t


def render_live(obs: Observer, title: str, started: float,
                gpus: Sequence[tuple[str, int, str, int, int]] | None = None) -> Any:
    from rich.console import Group
    from rich.table import Table

    t = Table(title=f"{title} — {time.monotonic() - started:.0f}s", expand=True)
    for col in ("pod", "role", "node", "phase", "ready", "ip", "gpus", "dual", "state"):
        t.add_column(col, overflow="fold")
    with obs.cond:
        pods = sorted(obs.pods.values(), key=lambda p: (_role(p), p["metadata"]["name"]))
        recent = list(obs.recent)
        counts = obs.counts()
    for p in pods[:30]:
        meta, st = p.get("metadata") or {}, p.get("status") or {}
        labels = meta.get("labels") or {}
        state = "asleep" if labels.get(LBL_SLEEPING) == "true" else ("deleting" if meta.get("deletionTimestamp") else "")
        if labels.get(LBL_INSTANCE):
            state = (state + " inst " + labels[LBL_INSTANCE][:10]).strip()
        held = ((meta.get("annotations") or {}).get(ANN_GPUS) or "")
        t.add_row(meta.get("name", ""), _role(p), (p.get("spec") or {}).get("nodeName") or "-",
                  st.get("phase", "-"), "yes" if is_ready(p) else "no", st.get("podIP") or "-",
                  str(len(held.split(","))) if held else "0", labels.get(LBL_DUAL, ""), state)
    notes = Table.grid()
    notes.add_column()
    for ts, text in recent[-8:]:
        notes.add_row(f"[dim]{ts}[/] {text}")
    head = f"starts: [red]{counts['hot']} hot[/], [yellow]{counts['warm']} warm[/], [cyan]{counts['cold']} cold[/]" \
           f"; sleeps {obs.sleeps}"
    parts: list[Any] = [t]
    if gpus:
        parts.append(gpu_table(gpus))
    return Group(*parts, head, notes)


def plain_note(text: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {text}", file=sys.stderr, flush=True)
