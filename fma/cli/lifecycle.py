"""``fma lifecycle show MACHINE``: print a lifecycle's transition table."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lifecycle", help="inspect the pure lifecycles (state machines)",
                       description="Inspect the lifecycles every actor runs.")
    lsub = p.add_subparsers(dest="lifecycle_cmd", metavar="SUBCOMMAND", required=True)
    show = lsub.add_parser("show", help="print a lifecycle's transition table",
                           description="Print a lifecycle's transition table as a table, "
                           "a Mermaid state diagram or Graphviz dot.")
    show.add_argument("machine", help="lifecycle name; `fma lifecycle list` lists them")
    show.add_argument("--format", choices=("table", "mermaid", "dot"), default="table")
    show.set_defaults(handler=_show)
    lst = lsub.add_parser("list", help="list the lifecycles")
    lst.set_defaults(handler=_list)


def _list(args: argparse.Namespace) -> int:
    from fma.statemachines import load_all

    LIFECYCLES = load_all()

    for name, cls in sorted(LIFECYCLES.items()):
        print(f"{name:12s} states: {', '.join(s.value for s in cls.States)}")
    return 0


def _show(args: argparse.Namespace) -> int:
    import sys

    from fma.statemachines import load_all

    LIFECYCLES = load_all()
    from fma.statemachines.render import render

    cls = LIFECYCLES.get(args.machine)
    if cls is None:
        print(f"fma lifecycle: unknown machine {args.machine!r}; known: {', '.join(sorted(LIFECYCLES))}",
              file=sys.stderr)
        return 2
    print(render(cls, args.format))
    return 0
