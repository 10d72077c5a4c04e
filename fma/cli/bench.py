"""``fma bench NAME``: run one benchmark from :mod:`fma.bench`; ``fma bench`` alone runs them all (``all``)."""

from __future__ import annotations

import argparse
import importlib
import pkgutil


def register(sub: argparse._SubParsersAction) -> None:
    import fma.bench as pkg

    p = sub.add_parser("bench", help="run a benchmark (prints figures, never fails on time)",
                       description="Benchmarks print figures measured side by side in one run.")
    bsub = p.add_subparsers(dest="bench_name", metavar="NAME")
    p.set_defaults(handler=_all_defaults)  # `fma bench` alone: every benchmark's quick mode, one table
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module_name = f"fma.bench.{info.name}"
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:  # an optional dependency is missing: say so, don't break `fma`
            bp = bsub.add_parser(info.name, help=f"(unavailable: {exc})")
            bp.set_defaults(handler=lambda a, e=exc: (print(f"fma bench: {e}"), 2)[1])
            continue
        doc = (module.__doc__ or info.name).strip().splitlines()[0]
        bp = bsub.add_parser(info.name, help=doc, description=module.__doc__)
        module.add_arguments(bp)
        bp.set_defaults(handler=module.run)


def _all_defaults(args: argparse.Namespace) -> int:
    from fma.bench import all as bench_all

    p = argparse.ArgumentParser()
    bench_all.add_arguments(p)
    return bench_all.run(p.parse_args([]))
