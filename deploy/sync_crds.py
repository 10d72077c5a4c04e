#!/usr/bin/env python3
"""Copy the repository's CRDs (``crds/fma.llm-d.ai_*.yaml``) into the chart's ``crds/``.

Helm installs a chart's ``crds/`` folder before its templates, and a chart must be
self-contained (``helm package`` does not follow files outside it), so the chart carries
copies; ``crds/`` at the repository root stays the one source. Run after changing a CRD:

    python deploy/sync_crds.py          # copy; removes chart copies whose source is gone
    python deploy/sync_crds.py --check  # exit 1 and name the files that differ (CI)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "crds"
CHART_CRDS = ROOT / "deploy" / "charts" / "fma-controllers" / "crds"
PATTERN = "fma.llm-d.ai_*.yaml"


def differences(source: Path = SOURCE, target: Path = CHART_CRDS) -> list[str]:
    """File names that are missing, extra or different in ``target``; [] when in sync."""
    want = {p.name: p.read_bytes() for p in sorted(source.glob(PATTERN))}
    have = {p.name: p.read_bytes() for p in sorted(target.glob(PATTERN))} if target.is_dir() else {}
    out = [f"missing in chart: {n}" for n in want if n not in have]
    out += [f"not in {source.name}/ any more: {n}" for n in have if n not in want]
    out += [f"differs: {n}" for n in want if n in have and have[n] != want[n]]
    return out


def sync(source: Path = SOURCE, target: Path = CHART_CRDS) -> list[str]:
    """Make ``target`` hold exactly the CRD files of ``source``; returns what changed."""
    changed = differences(source, target)
    target.mkdir(parents=True, exist_ok=True)
    wanted = {p.name for p in source.glob(PATTERN)}
    for stale in target.glob(PATTERN):
        if stale.name not in wanted:
            stale.unlink()
    for src in sorted(source.glob(PATTERN)):
        dst = target / src.name
        if not dst.exists() or dst.read_bytes() != src.read_bytes():
            dst.write_bytes(src.read_bytes())
    return changed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="only compare; exit 1 when out of sync")
    args = p.parse_args(argv)
    if args.check:
        diff = differences()
        for line in diff:
            print(f"sync_crds: {line} (run: python deploy/sync_crds.py)", file=sys.stderr)
        return 1 if diff else 0
    for line in sync():
        print(f"sync_crds: {line} -> fixed", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
