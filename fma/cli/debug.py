"""``fma debug``: look inside running processes (debug socket) or event-log files."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "debug",
        help="inspect actors: live through a debug socket, or offline from a log file",
        description="Inspect actors' lifecycles. `replay` folds an event-log file offline; "
        "the other subcommands attach to a process's debug socket (--connect ADDR).",
    )
    dsub = p.add_subparsers(dest="debug_cmd", metavar="SUBCOMMAND", required=True)
    rp = dsub.add_parser("replay", help="fold an event-log file and print each actor's state",
                         description="Fold a length-prefixed msgpack event-log file and print each "
                         "actor's state at the end (or at --until SEQ).")
    rp.add_argument("file", help="event-log file (e.g. STATE_DIR/events.log)")
    rp.add_argument("--until", type=int, default=None, metavar="SEQ", help="stop after this seq")
    rp.add_argument("--json", action="store_true", help="JSON lines {actor, machine, state, seq}")
    rp.add_argument("--history", metavar="ACTOR", default=None,
                    help="print this actor's records instead of the states")
    rp.set_defaults(handler=_replay)
    try:  # live subcommands, provided by the debug-socket client when present
        from fma.transport import debug_cli  # type: ignore[attr-defined]
    except ImportError:
        return
    debug_cli.register(dsub)


def _replay(args: argparse.Namespace) -> int:
    from fma.events import CorruptLogError, read_log_file
    from fma.events.fold import fold_log
    from fma.events.render import record_json, record_line, states_json, states_table
    from fma.statemachines import FoldError, load_all

    load_all()

    try:
        records = read_log_file(args.file)
    except FileNotFoundError:
        print(f"fma debug replay: no such file: {args.file}", file=sys.stderr)
        return 2
    except CorruptLogError as exc:
        print(f"fma debug replay: {exc}", file=sys.stderr)
        return 1
    if args.until is not None:
        records = [r for r in records if r.seq <= args.until]
    if args.history:
        for r in records:
            if r.actor == args.history:
                print(record_json(r) if args.json else record_line(r))
        return 0
    try:
        states = fold_log(records)
    except FoldError as exc:
        print(f"fma debug replay: {exc}", file=sys.stderr)
        return 1
    rows = sorted(states.values(), key=lambda s: s.actor)
    if args.json:
        states_json(rows)
    else:
        last = records[-1].seq if records else 0
        states_table(rows, title=f"{args.file} at seq {last}")
    return 0
