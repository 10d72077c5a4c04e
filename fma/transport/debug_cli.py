"""``fma debug state|history|tail``: attach to a process's debug socket (CONTRACTS.md B3)."""

from __future__ import annotations

import argparse
import os
import sys

ENV_ADDR = "FMA_DEBUG_SOCKET"


def register(dsub: argparse._SubParsersAction) -> None:
    """Add the live subcommands to ``fma debug`` (called by :mod:`fma.cli.debug`)."""

    def common(p: argparse.ArgumentParser, filters: bool = True) -> None:
        p.add_argument("--connect", metavar="ADDR", default=os.environ.get(ENV_ADDR),
                       help=f"debug socket: ipc://PATH or tcp://127.0.0.1:PORT (default ${ENV_ADDR})")
        p.add_argument("--json", action="store_true", help="JSON lines instead of tables")
        p.add_argument("--timeout", type=float, default=5.0, metavar="S", help="reply timeout (default 5 s)")
        p.add_argument("--curve-secret", metavar="FILE", help="our CURVE secret key file (non-loopback TCP)")
        p.add_argument("--curve-server", metavar="FILE", help="the server's CURVE public key file")
        if filters:
            p.add_argument("--prefix", "--actor", dest="prefix", default="", metavar="PATH",
                           help="only actors whose path starts with this (e.g. instance/node-a/)")
            p.add_argument("--machine", default=None, help="only this lifecycle (instance, provider, ...)")
            p.add_argument("--state", default=None, help="only actors in (records entering) this state")

    sp = dsub.add_parser("state", help="current state of every actor in a live process",
                         description="Ask a debug socket for each actor's state (the fold of the "
                         "process's event log) and print a table, or JSON lines with --json.")
    common(sp)
    sp.set_defaults(handler=_state)

    hp = dsub.add_parser("history", help="every record of one actor in a live process",
                         description="Print one actor's records from a live process, oldest first.")
    common(hp, filters=False)
    hp.add_argument("actor", help="actor path, e.g. instance/node-a/I...i or launcher/node-a")
    hp.set_defaults(handler=_history)

    tp = dsub.add_parser("tail", help="stream live transitions (with filters)",
                         description="Stream records as they are appended, in seq order with no gaps "
                         "(the client re-reads from the log if the server dropped any). Ctrl-C stops.")
    common(tp)
    tp.add_argument("--since", type=int, default=None, metavar="SEQ",
                    help="start after this seq (0: the whole log); default: only new records")
    tp.add_argument("--count", type=int, default=None, metavar="N", help="stop after N records")
    tp.add_argument("--idle", type=float, default=None, metavar="S", help="stop after S seconds without a record")
    tp.set_defaults(handler=_tail)


def _client(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from fma.transport.curve import CurveClient
    from fma.transport.debugclient import DebugClient

    if not args.connect:
        raise SystemExit(f"fma debug {args.debug_cmd}: --connect ADDR is required (or set ${ENV_ADDR})")
    curve = None
    if args.curve_secret or args.curve_server:
        if not (args.curve_secret and args.curve_server):
            raise SystemExit("fma debug: --curve-secret and --curve-server go together")
        curve = CurveClient(args.curve_secret, args.curve_server)
    return DebugClient(args.connect, timeout=args.timeout, curve=curve)


def _state(args: argparse.Namespace) -> int:
    from fma.events.render import states_json, states_table
    from fma.transport.debugclient import DebugError

    with _client(args) as client:
        try:
            seq, rows = client.state(args.prefix, args.machine, args.state)
        except DebugError as exc:
            print(f"fma debug state: {exc}", file=sys.stderr)
            return 1
    if args.json:
        states_json(rows)
    else:
        states_table(rows, title=f"{args.connect} at seq {seq}")
    return 0


def _history(args: argparse.Namespace) -> int:
    from fma.events.render import record_json
    from fma.transport.debugclient import DebugError

    with _client(args) as client:
        try:
            records = client.history(args.actor)
        except DebugError as exc:
            print(f"fma debug history: {exc}", file=sys.stderr)
            return 1
    if not records:
        print(f"fma debug history: no records of {args.actor} in {args.connect} "
              f"(try `fma debug state --connect {args.connect}` for the actor paths)", file=sys.stderr)
        return 1
    if args.json:
        for r in records:
            print(record_json(r))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{args.actor} ({len(records)} records)")
    for col in ("seq", "time", "machine", "src", "event", "dst", "data"):
        table.add_column(col, justify="right" if col == "seq" else "left")
    import json
    import time

    for r in records:
        table.add_row(str(r.seq), time.strftime("%H:%M:%S", time.localtime(r.ts)) + f".{int(r.ts * 1000) % 1000:03d}",
                      r.machine, r.src, r.event, r.dst, json.dumps(dict(r.data), default=str)[:80])
    Console(file=sys.stdout, soft_wrap=True).print(table)
    return 0


def _tail(args: argparse.Namespace) -> int:
    from fma.events.render import record_json, record_line
    from fma.transport.debugclient import DebugError

    n = 0
    with _client(args) as client:
        try:
            for rec in client.tail(args.since, args.prefix, args.machine, args.state, idle_timeout=args.idle):
                print(record_json(rec) if args.json else record_line(rec), flush=True)
                n += 1
                if args.count is not None and n >= args.count:
                    break
        except DebugError as exc:
            print(f"fma debug tail: {exc}", file=sys.stderr)
            return 1
    return 0
