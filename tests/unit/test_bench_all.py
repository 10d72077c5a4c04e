"""`fma bench all` turns every benchmark's figure dict into one table (and one JSON object);
the benchmarks themselves are stubbed here, so this runs in milliseconds."""

from __future__ import annotations

import argparse
import json

import pytest

from fma.bench import _table as T
from fma.bench import all as bench_all

FIGS = {
    "engines": {"sim": {"ready_s": 0.5, "sleep_s": 0.003, "wake_s": 0.05},
                "vllm": {"ready_s": 32.0, "sleep_s": 0.011, "wake_s": 0.006}},
    "launcher": {"rest_ask_ms_p50": 0.9, "rest_ask_ms_p99": 1.5, "watch_event_ms_p50": 0.4,
                 "cold_s": 37.6, "preloaded_s": 5.6, "ratio": 0.149},
    "eventlog": {"append_per_s": {"memory": 600_000, "none": 293_000, "flush": 212_000, "none_batched": 430_000,
                                  "flush_batched": 405_000}, "fold_records": 1_000_000, "fold_s": 1.75, "read_s": 5.9},
    "transport": {"ask_ipc_p50_us": 262, "ask_ipc_p99_us": 412, "ask_tcp_p50_us": 279, "ask_tcp_p99_us": 387,
                  "raw_ipc_p50_us": 65, "raw_tcp_p50_us": 85, "tells_ipc_per_s": 31_500, "tells_tcp_per_s": 26_100,
                  "tail_p50_ms": 0.46, "tail_p99_ms": 0.7},
    "apiserver": {"pods": 2000, "creates_per_s": 431.0, "fanout_latency_ms_p50": 14.5, "fanout_latency_ms_p99": 38.7,
                  "fanout_events_delivered": 20000, "fanout_expected": 20000, "list_all_ms": 140.0,
                  "list_with_selectors_ms": 9.0},
    "hotstart": {"p50_ms": 18.4, "p99_ms": 21.1, "with_5s_polling_p50_ms": 2518, "with_5s_polling_p99_ms": 5021},
    "local": {"mean_ready_seconds": {"hot": 1.15, "warm": 5.22, "cold": 8.14},
              "ratios": {"warm/hot": 4.5, "cold/hot": 7.1, "cold/warm": 1.6}},
    "churn": {"runs": [{"requesters": 100, "bindings": 100, "expected": 100, "wall_ms_per_binding": 25.0,
                        "cpu_ms_per_binding": {"controller": 18.7}},
                       {"requesters": 1000, "bindings": 1000, "expected": 1000, "wall_ms_per_binding": 26.0,
                        "cpu_ms_per_binding": {"controller": 19.3}}],
              "ratio_wall_per_binding": 1.04, "ratio_controller_cpu_per_binding": 1.03},
}


def _by_what(rows: list[T.Row]) -> dict[str, T.Row]:
    return {r.what: r for r in rows}


def test_every_readme_figure_has_a_row_with_its_measured_value_ratio_and_goal():
    rows = T.assemble(FIGS, with_vllm=True)
    assert len(rows) == len(T.SPECS)
    assert {r.bench for r in rows} == set(FIGS)
    assert all(r.status != "failed" for r in rows), [r for r in rows if r.status == "failed"]
    by = _by_what(rows)
    launcher = next(r for w, r in by.items() if w.startswith("time to ready"))
    assert (launcher.measured, launcher.ratio, launcher.goal, launcher.status) == (
        "5.60 s vs 37.60 s", "0.149", "ratio <= 0.3", "met")
    ask = next(r for w, r in by.items() if w.startswith("ZMQ ask"))
    assert ask.status == "missed" and "262 / 412" in ask.measured
    churn = next(r for r in rows if r.bench == "churn")
    assert churn.status == "met" and "1.04x wall" in churn.ratio and "1000 of 1000 bound" in churn.measured


def test_real_vllm_rows_say_skipped_without_with_vllm():
    rows = T.assemble({k: v for k, v in FIGS.items()}, with_vllm=False)
    skipped = [r for r in rows if r.status == "skipped"]
    assert skipped and all("--with-vllm" in r.measured for r in skipped)
    assert {r.bench for r in skipped} == {"engines", "launcher"}
    sim = next(r for r in rows if r.what.startswith("cold start to ready, same model"))
    assert sim.status == "" and sim.measured == "0.50 s"


def test_a_benchmark_that_did_not_run_or_lacks_a_figure_still_gives_its_rows():
    figs = {k: v for k, v in FIGS.items() if k != "transport"}
    figs["hotstart"] = {"p50_ms": 10.0}  # p99 missing
    rows = T.assemble(figs, {"transport": "failed: RuntimeError: boom"})
    transport = [r for r in rows if r.bench == "transport"]
    assert len(transport) == 3 and all(r.status == "failed" and "boom" in r.measured for r in transport)
    hot = next(r for r in rows if r.bench == "hotstart")
    assert hot.status == "failed" and "no figure" in hot.measured


def test_render_is_one_aligned_table_and_json_is_one_serialisable_object():
    rows = T.assemble(FIGS, with_vllm=True)
    text = T.render(rows)
    lines = text.splitlines()
    assert lines[0].split() == ["bench", "what", "measured", "ratio", "goal", "status"]
    assert len(lines) == len(rows) + 2
    obj = json.loads(json.dumps(T.as_json(rows, FIGS, {"churn": 30.04}, {})))
    assert obj["rows"][0]["command"] == "fma bench engines" and obj["seconds"] == {"churn": 30.0}


def _args(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    bench_all.add_arguments(p)
    return p.parse_args(list(argv))


def test_bench_all_runs_each_benchmark_once_and_prints_one_table(monkeypatch, capsys):
    called: list[tuple[str, bool]] = []

    def stub(name: str):
        def fn(with_vllm: bool):
            called.append((name, with_vllm))
            if name == "local":
                raise RuntimeError("no room")
            return FIGS[name]
        return fn

    monkeypatch.setattr(bench_all, "RUNNERS", lambda: {n: stub(n) for n in T.BENCHES})
    assert bench_all.run(_args()) == 0
    out = capsys.readouterr().out
    assert [n for n, _ in called] == T.BENCHES and not any(v for _, v in called)
    assert out.count("\nbench ") + out.startswith("bench ") == 1
    assert "failed: RuntimeError: no room" in out
    called.clear()
    assert bench_all.run(_args("--json", "--engine", "vllm-cpu", "--only", "churn,engines")) == 0
    obj = json.loads(capsys.readouterr().out)
    assert called == [("engines", True), ("churn", True)]
    assert obj["not_run"]["eventlog"] == "skipped (--only/--skip)"


def test_unknown_benchmark_names_are_refused():
    with pytest.raises(ValueError, match="unknown benchmark"):
        bench_all.collect(_args("--only", "nope"), lambda line: None)
