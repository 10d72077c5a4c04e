"""The end of a run: one JSON object (``--json``) or a summary table for people.

GPU-seconds: ``requested`` = GPUs held by requesters from creation until gone (also per
requester, as its ``gpu_seconds``);
``serving`` = from Ready until deleted (what users got); ``always_on`` = what dedicated
always-on server pods would have held: for each model, its peak number of concurrent
requesters × their GPUs × the run's length. ``saved_vs_always_on`` = 1 − requested/always_on.
"""

from __future__ import annotations

from typing import Any

from fma.local.runner import RunResult


def _round(x: float | None, n: int = 3) -> float | None:
    return None if x is None else round(x, n)


def gpu_seconds(res: RunResult) -> dict[str, float]:
    end = res.finished
    requested = serving = 0.0
    events: dict[str, list[tuple[float, int]]] = {}
    for r in res.requesters:
        until = r.gone_at or end
        requested += r.gpus * max(0.0, until - r.created)
        if r.ready_at is not None:
            serving += r.gpus * max(0.0, (r.deleted_at or end) - r.ready_at)
        events.setdefault(r.model, []).extend([(r.created, r.gpus), (until, -r.gpus)])
    duration = max(0.0, end - res.started)
    always_on = 0.0
    for evs in events.values():
        cur = peak = 0
        for _, d in sorted(evs, key=lambda e: (e[0], e[1])):
            cur += d
            peak = max(peak, cur)
        always_on += peak * duration
    out = {"requested": round(requested, 2), "serving": round(serving, 2), "always_on": round(always_on, 2)}
    out["saved_vs_always_on"] = round(1 - requested / always_on, 3) if always_on else 0.0
    return out


def summary(res: RunResult, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    reqs = [{"name": r.name, "mode": r.mode, "model": r.model, "gpus": r.gpus, "node": r.node,
             "start": r.start or None, "expected_start": r.expect or None,
             "ready_seconds": _round(r.ready_seconds), "provider": r.provider or None,
             "instance": r.instance or None,
             "gpu_seconds": round(r.gpus * max(0.0, (r.gone_at or res.finished) - r.created), 2)}
            for r in res.requesters]
    counts = {"hot": 0, "warm": 0, "cold": 0}
    by_kind: dict[str, list[float]] = {"hot": [], "warm": [], "cold": []}
    for r in res.requesters:
        if r.start in counts:
            counts[r.start] += 1
            if r.ready_seconds is not None:
                by_kind[r.start].append(r.ready_seconds)
    mean = {k: (round(sum(v) / len(v), 3) if v else None) for k, v in by_kind.items()}
    out: dict[str, Any] = {
        "scenario": res.scenario, "engine": res.engine, "ok": not res.errors,
        "duration_seconds": round(res.finished - res.started, 2),
        "requesters": reqs, "starts": counts, "mean_ready_seconds": mean,
        "wakes": counts["hot"], "sleeps": res.sleeps,
        "gpu_seconds": gpu_seconds(res), "errors": res.errors, "expectation_mismatches": res.mismatches,
    }
    if extra:
        out.update(extra)
    return out


def render(summary_obj: dict[str, Any], console: Any) -> None:
    """The table a person reads at the end."""
    from rich import box
    from rich.table import Table

    rows = summary_obj["requesters"]
    one_node = len({r["node"] for r in rows}) <= 1
    cols = [c for c in ("requester", "mode", "model", "node", "start", "ready s", "provider")
            if not (c == "node" and one_node)]
    where = f", {rows[0]['node']}" if one_node and rows and rows[0]["node"] else ""
    t = Table(title=f"fma local — scenario {summary_obj['scenario']} ({summary_obj['engine']} engine{where})",
              box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for col in cols:
        # only the model name and a mismatch note wrap: names a person copies into kubectl stay whole
        t.add_column(col, overflow="fold", no_wrap=col != "model")
    colors = {"hot": "red", "warm": "yellow", "cold": "cyan"}
    for r in rows:
        start = r["start"] or "-"
        if r["expected_start"] and r["start"] and r["start"] != r["expected_start"]:
            start += "!"  # the expectation_mismatches notes below say what was expected
        cells = {"requester": r["name"], "mode": r["mode"], "model": r["model"].rsplit("/", 1)[-1],
                 "node": r["node"] or "-", "start": f"[{colors.get(r['start'] or '', 'white')}]{start}[/]",
                 "ready s": "-" if r["ready_seconds"] is None else f"{r['ready_seconds']:.2f}",
                 "provider": r["provider"] or "-"}
        t.add_row(*(cells[c] for c in cols))
    console.print(t)
    s, m, g = summary_obj["starts"], summary_obj["mean_ready_seconds"], summary_obj["gpu_seconds"]
    def fmt(k: str) -> str:
        return f"{s[k]} {k}" + (f" (mean {m[k]:.2f}s)" if m[k] is not None else "")
    console.print("starts: " + ", ".join(fmt(k) for k in ("hot", "warm", "cold"))
                  + f"; wakes {summary_obj['wakes']}, sleeps {summary_obj['sleeps']}")
    if m["hot"] and m["cold"]:
        ratio = f"cold/hot {m['cold'] / m['hot']:.1f}x"
        if m["warm"]:
            ratio += f", warm/hot {m['warm'] / m['hot']:.1f}x, cold/warm {m['cold'] / m['warm']:.1f}x"
        console.print("time to Ready: " + ratio)
    console.print(f"GPU-seconds: requested {g['requested']}, serving {g['serving']}, always-on pods would hold "
                  f"{g['always_on']} (saved {g['saved_vs_always_on'] * 100:.0f}%)")
    for e in summary_obj["expectation_mismatches"]:
        console.print(f"[yellow]note:[/] {e}")
    for e in summary_obj["errors"]:
        console.print(f"[red]error:[/] {e}")
    console.print(f"done in {summary_obj['duration_seconds']:.1f}s" + (" — OK" if summary_obj["ok"] else " — FAILED"))
