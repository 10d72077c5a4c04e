"""Every model server's states over time, per GPU, and the picture of it.

:class:`Timeline` is fed by the observer (from pod events alone): a *server* is a direct
provider pod, or one instance on a launcher (``<launcher>/<instance id>``). Its state is
``starting`` (bound, its requester not Ready yet: loading or waking), ``awake`` (its
requester is Ready) or ``asleep`` (its requester left and it was put to sleep); it ends
when its pod is deleted. :func:`draw` turns the spans into a PNG/SVG with matplotlib:
one row per GPU, one lane per server on that GPU, bars coloured by state and labelled
with the model and requester.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

STATES = ("starting", "awake", "asleep")
COLORS = {"starting": "#f2b134", "awake": "#2e9e44", "asleep": "#7a8bd6"}
FORMATS = ("png", "svg", "pdf")


@dataclass
class Span:
    server: str
    label: str
    node: str
    gpus: tuple[str, ...]
    state: str
    start: float
    end: float | None = None


class Timeline:
    """Open and closed spans per server; not thread-safe (the observer holds its lock)."""

    def __init__(self) -> None:
        self.closed: list[Span] = []
        self.open: dict[str, Span] = {}

    def set(self, server: str, state: str, now: float, *, label: str = "", node: str = "",
            gpus: Sequence[str] = ()) -> None:
        """``server`` is in ``state`` from ``now`` (``gone`` ends it). Label, node and GPUs
        are kept from earlier spans when not given."""
        cur = self.open.get(server)
        if cur is not None and cur.state == state:
            if gpus and not cur.gpus:
                cur.gpus = tuple(gpus)
            return
        if cur is not None:
            cur.end = now
            self.closed.append(cur)
            del self.open[server]
        if state == "gone":
            return
        prev = cur or next((s for s in reversed(self.closed) if s.server == server), None)
        self.open[server] = Span(server, label or (prev.label if prev else server), node or (prev.node if prev else ""),
                                 tuple(gpus) or (prev.gpus if prev else ()), state, now)

    def state_of(self, server: str) -> str | None:
        s = self.open.get(server)
        return s.state if s else None

    def spans(self, end: float) -> list[Span]:
        """Every span, the open ones ending at ``end``."""
        out = list(self.closed)
        out += [Span(s.server, s.label, s.node, s.gpus, s.state, s.start, end) for s in self.open.values()]
        return sorted(out, key=lambda s: (s.start, s.server))


def gpu_rows(spans: Iterable[Span], known: Sequence[tuple[str, str]] = ()) -> list[tuple[str, str]]:
    """``(node, uuid)`` rows: the cluster's GPUs in order, then any other GPU a span names."""
    rows = list(known)
    seen = set(rows)
    for s in spans:
        for g in s.gpus:
            if (s.node, g) not in seen:
                seen.add((s.node, g))
                rows.append((s.node, g))
    return rows


def row_labels(rows: Sequence[tuple[str, str]]) -> list[str]:
    """``node-0 GPU 0``, ``node-0 GPU 1``, ... (the GPU's position on its node)."""
    seen: dict[str, int] = {}
    out = []
    for node, _ in rows:
        out.append(f"{node or '?'} GPU {seen.get(node, 0)}")
        seen[node] = seen.get(node, 0) + 1
    return out


def draw(spans: Sequence[Span], path: str, *, t0: float, rows: Sequence[tuple[str, str]] = (),
         title: str = "fma local") -> str:
    """Write the picture to ``path`` (format from its extension: png, svg or pdf)."""
    ext = path.rsplit(".", 1)[-1].lower() if "." in path else ""
    if ext not in FORMATS:
        raise ValueError(f"timeline {path!r}: the file name must end in one of {', '.join('.' + f for f in FORMATS)}")
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    rows = gpu_rows(spans, rows)
    lanes: dict[tuple[str, str], list[str]] = {r: [] for r in rows}
    for s in spans:
        for g in s.gpus:
            if s.server not in lanes[(s.node, g)]:
                lanes[(s.node, g)].append(s.server)
    end = max([s.end or s.start for s in spans] + [t0 + 1.0]) - t0
    fig, ax = plt.subplots(figsize=(12, 1.2 + 0.9 * max(1, len(rows))))
    try:
        for i, row in enumerate(rows):
            servers = lanes[row]
            h = 0.8 / max(1, len(servers))
            for s in spans:
                if row[1] not in s.gpus or s.node != row[0]:
                    continue
                y = i - 0.4 + servers.index(s.server) * h
                x, w = s.start - t0, max(0.0, (s.end or s.start) - s.start)
                ax.broken_barh([(x, w)], (y, h * 0.9), facecolors=COLORS.get(s.state, "#999999"), edgecolor="white")
                room = int(w / end * 150)  # about how many 7-point characters fit in the bar
                if room >= 6:
                    text = s.label if len(s.label) <= room else s.label[: room - 1] + "…"
                    ax.text(x + w / 2, y + h * 0.45, text, ha="center", va="center", fontsize=7, clip_on=True)
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels(row_labels(rows), fontsize=8)
        ax.set_ylim(len(rows) - 0.5, -0.5)
        ax.set_xlim(0, end)
        ax.set_xlabel("seconds since the scenario started")
        ax.set_title(title)
        ax.grid(axis="x", alpha=0.3)
        ax.legend(handles=[Patch(color=COLORS[k], label=k) for k in STATES], loc="upper left",
                  bbox_to_anchor=(1.0, 1.0), fontsize=8)
        fig.tight_layout()
        fig.savefig(path, format=ext)
    finally:
        plt.close(fig)
    return path
