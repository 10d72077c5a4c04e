"""Present folded actor states and records to people (rich tables) or programs (JSON lines)."""

from __future__ import annotations

import json
import sys
from typing import Any, Iterable, TextIO

from fma.events.fold import ActorState
from fma.events.record import Record


def states_json(states: Iterable[ActorState], out: TextIO | None = None) -> None:
    out = out or sys.stdout  # looked up per call: sys.stdout may be replaced (capture, redirect)
    for st in states:
        out.write(json.dumps(st.row(), sort_keys=True) + "\n")


def states_table(states: Iterable[ActorState], title: str = "actors", out: TextIO | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for col in ("actor", "machine", "state", "seq"):
        table.add_column(col, justify="right" if col == "seq" else "left")
    for st in states:
        table.add_row(st.actor, st.machine, st.state, str(st.seq))
    Console(file=out or sys.stdout, soft_wrap=True).print(table)


def record_json(record: Record) -> str:
    return json.dumps(record.to_dict(), sort_keys=True, default=str)


def record_line(record: Record) -> str:
    data = " ".join(f"{k}={_short(v)}" for k, v in sorted(record.data.items()))
    return f"{record.seq:>7} {record.ts:.3f} {record.actor} {record.machine}: {record.src} --{record.event}--> {record.dst} {data}".rstrip()


def _short(v: Any) -> str:
    s = v if isinstance(v, str) else json.dumps(v, default=str)
    return s if len(s) <= 60 else s[:57] + "..."
