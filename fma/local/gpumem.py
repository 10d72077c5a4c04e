"""GPU bytes in use per mock GPU, read from the simulators' GPU ledgers.

Every simulated model server claims its GPU memory in a ledger file (``gpus.json``, see
:mod:`fma.engines.sim.ledger`): direct providers share ``<node dir>/gpu-ledger``, each
launcher keeps one under its state directory. Summing the claims of live processes over
every ledger of a node gives what its GPUs hold now. Reading a few small JSON files is
cheap enough for the live view's refresh; a file being replaced mid-read is skipped.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Mapping, Sequence


def _alive(owner: str) -> bool:
    pid = owner.split(":", 1)[0]
    if not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def ledger_usage(path: Path) -> dict[str, int]:
    """GPU uuid -> bytes claimed by live owners in one ``gpus.json`` ({} if unreadable)."""
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    used: dict[str, int] = {}
    for owner, claims in (raw.get("claims") or {}).items():
        if not isinstance(claims, dict) or not _alive(str(owner)):
            continue
        for gpu, nbytes in claims.items():
            used[gpu] = used.get(gpu, 0) + int(nbytes)
    return used


def node_usage(node_dir: str | Path) -> dict[str, int]:
    """GPU uuid -> bytes in use, over every ledger under one node's directory."""
    total: dict[str, int] = {}
    for path in Path(node_dir).rglob("gpus.json"):
        for gpu, nbytes in ledger_usage(path).items():
            total[gpu] = total.get(gpu, 0) + nbytes
    return total


def cluster_usage(nodes: Mapping[str, tuple[str, Sequence[str]]], capacity: int) -> list[tuple[str, int, str, int, int]]:
    """One row per GPU, in node then index order: ``(node, index, uuid, used, capacity)``.

    ``nodes`` maps a node name to ``(its directory, its GPU uuids in index order)``."""
    rows = []
    for name in sorted(nodes):
        ndir, uuids = nodes[name]
        used = node_usage(ndir)
        rows += [(name, i, u, used.get(u, 0), capacity) for i, u in enumerate(uuids)]
    return rows
