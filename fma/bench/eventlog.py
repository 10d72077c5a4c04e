"""Event log: file-log append rate (sync=flush vs none, one by one vs batched) and fold/read rate for 1 M records."""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator

# One instance's life, repeated: the shape of a busy launcher's log.
_PROLOGUE = (("start", "pending", "loading"), ("ready", "loading", "awake"))
_CYCLE = (
    ("used", "awake", "awake"), ("sleep", "awake", "swapping"), ("slept", "swapping", "sleeping"),
    ("wake", "sleeping", "swapping"), ("woke", "swapping", "awake"),
)
TARGET_APPENDS = 200_000
TARGET_FOLD_S = 5.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--appends", type=int, default=100_000, help="records per append run (default 100000)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each append variant; the best is shown (the machine is shared; default 3)")
    parser.add_argument("--fold", type=int, default=1_000_000, help="records to fold (default 1000000)")
    parser.add_argument("--actors", type=int, default=1000, help="distinct actors in the folded log (default 1000)")
    parser.add_argument("--batch", type=int, default=256, help="records per append_many call (default 256)")
    parser.add_argument("--fsync", type=int, default=2000,
                        help="records for the sync=fsync run (slow: one fsync each; 0 skips it; default 2000)")
    parser.add_argument("--dir", default=None, help="directory for the log files (default: a temporary one)")


def workload(n: int, actors: int) -> Iterator[tuple[str, str, str, str, str, dict[str, Any]]]:
    """``n`` legal instance-lifecycle events spread round-robin over ``actors`` actors."""
    names = [f"instance/node-{a % 16}/I{a:08d}i" for a in range(actors)]
    for i in range(n):
        a, k = i % actors, i // actors
        if k < len(_PROLOGUE):
            event, src, dst = _PROLOGUE[k]
        else:
            event, src, dst = _CYCLE[(k - len(_PROLOGUE)) % len(_CYCLE)]
        yield names[a], "instance", event, src, dst, {"at": float(i)}


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _append_one_by_one(path: Path, rows: list[tuple[Any, ...]], sync: str) -> int:
    from fma.events import FileLog

    log = FileLog(path, sync=sync)
    try:
        append = log.append
        for actor, machine, event, src, dst, data in rows:
            append(actor, machine, event, src, dst, data, ts=0.0)
        log.flush()
        return log.last_seq
    finally:
        log.close()


def _append_batched(path: Path, rows: list[tuple[Any, ...]], sync: str, batch: int) -> int:
    from fma.events import FileLog

    log = FileLog(path, sync=sync)
    try:
        for i in range(0, len(rows), batch):
            log.append_many(rows[i:i + batch])
        log.flush()
        return log.last_seq
    finally:
        log.close()


def _append_memory(rows: list[tuple[Any, ...]]) -> int:
    from fma.events import MemoryLog

    log = MemoryLog()
    append = log.append
    for actor, machine, event, src, dst, data in rows:
        append(actor, machine, event, src, dst, data, ts=0.0)
    return log.last_seq


def measure(args: argparse.Namespace, say: Callable[[str], None] = lambda line: None) -> dict[str, Any]:
    """Every figure as a dict (records/s per append variant, fold/read seconds); ``say`` gets the report lines."""
    from fma.events import FileLog, read_log_file
    from fma.events.fold import fold_log

    fig: dict[str, Any] = {"appends": args.appends, "repeat": max(args.repeat, 1)}
    with tempfile.TemporaryDirectory(prefix="fma-bench-eventlog-", dir=args.dir) as d:
        tmp = Path(d)
        rows = list(workload(args.appends, min(args.actors, args.appends) or 1))
        say(f"append: {len(rows)} records of a busy launcher's log (~{_frame_size(rows[-1])} bytes each), "
            f"best of {max(args.repeat, 1)}")
        runs: list[tuple[str, str, Callable[[], int], int]] = [
            ("memory", "memory log (no I/O, reference)", lambda: _append_memory(rows), len(rows)),
            ("none", "file log, sync=none, one by one", lambda: _append_one_by_one(tmp / "none.log", rows, "none"),
             len(rows)),
            ("flush", "file log, sync=flush, one by one",
             lambda: _append_one_by_one(tmp / "flush.log", rows, "flush"), len(rows)),
            ("none_batched", f"file log, sync=none, append_many({args.batch})",
             lambda: _append_batched(tmp / "none-b.log", rows, "none", args.batch), len(rows)),
            ("flush_batched", f"file log, sync=flush, append_many({args.batch})",
             lambda: _append_batched(tmp / "flush-b.log", rows, "flush", args.batch), len(rows)),
        ]
        if args.fsync > 0:
            few = rows[: args.fsync]
            runs.append(("fsync", "file log, sync=fsync, one by one",
                         lambda: _append_one_by_one(tmp / "fsync.log", few, "fsync"), len(few)))
        rates: dict[str, float] = {}
        labels = {key: label for key, label, _, _ in runs}
        for _ in range(max(args.repeat, 1)):
            for key, label, fn, n in runs:  # interleaved, so a busy moment hurts every variant alike
                for f in tmp.glob("*.log"):
                    f.unlink()
                try:
                    secs, count = _timed(fn)
                except Exception as exc:  # a benchmark reports, never fails
                    say(f"  {label:44s} failed: {exc}")
                    continue
                assert count == n
                rates[key] = max(rates.get(key, 0.0), n / secs)
        flush_rate = rates.get("flush", 0.0)
        for key, rate in rates.items():
            ratio = f"{rate / flush_rate:5.2f}x flush" if flush_rate else ""
            say(f"  {labels[key]:44s} {rate:>12,.0f} records/s  {ratio}")
        verdict = "meets" if flush_rate >= TARGET_APPENDS else "MISSES"
        say(f"  target >= {TARGET_APPENDS:,} appends/s (sync=flush, one by one): {verdict}")
        fig["append_per_s"] = {k: round(v) for k, v in rates.items()}
        fig["batch"] = args.batch
        rows.clear()  # free the memory before the fold

        n = args.fold
        if n <= 0:
            return fig
        say(f"fold: {n:,} records, {args.actors} instance actors")
        path = tmp / "fold.log"
        log = FileLog(path, sync="none")
        gen_s, _ = _timed(lambda: _fill(log, n, args.actors))
        log.close()
        size = path.stat().st_size
        say(f"  write (append_many, sync=none)  {gen_s:7.2f} s  {n / gen_s:>12,.0f} records/s  {size / 1e6:.1f} MB")
        read_s, records = _timed(lambda: read_log_file(path))
        say(f"  read + decode (read_log_file)   {read_s:7.2f} s  {n / read_s:>12,.0f} records/s")
        fold_s, states = _timed(lambda: fold_log(records))
        say(f"  fold (fold_log, in memory)      {fold_s:7.2f} s  {n / fold_s:>12,.0f} records/s")
        total = read_s + fold_s
        say(f"  read + fold from the file       {total:7.2f} s  {n / total:>12,.0f} records/s")
        assert len(states) == min(args.actors, n)
        verdict = "meets" if fold_s <= TARGET_FOLD_S * n / 1_000_000 else "MISSES"
        say(f"  target: fold 1 M records <= {TARGET_FOLD_S:.0f} s: {verdict} "
            f"(read + fold: {'meets' if total <= TARGET_FOLD_S * n / 1_000_000 else 'misses'})")
        fig.update({"fold_records": n, "fold_s": round(fold_s, 3), "read_s": round(read_s, 3),
                    "write_s": round(gen_s, 3)})
    return fig


def quick() -> dict[str, Any]:
    """The figures of ``fma bench all``: 100 000 appends once per variant, fold 1 M records."""
    p = argparse.ArgumentParser()
    add_arguments(p)
    return measure(p.parse_args(["--repeat", "1", "--fsync", "0"]))


def run(args: argparse.Namespace) -> int:
    measure(args, print)
    return 0


def _fill(log: Any, n: int, actors: int, batch: int = 4096) -> None:
    buf: list[tuple[Any, ...]] = []
    for row in workload(n, actors):
        buf.append(row)
        if len(buf) == batch:
            log.append_many(buf)
            buf = []
    if buf:
        log.append_many(buf)


def _frame_size(row: tuple[Any, ...]) -> int:
    from fma.events import Record, encode_record

    actor, machine, event, src, dst, data = row
    return 4 + len(encode_record(Record(1, time.time(), actor, machine, event, src, dst, data)))
