"""Endpoint helpers: default ipc addresses that always fit a unix socket path."""

from __future__ import annotations

import hashlib
import os
import tempfile

# sockaddr_un.sun_path is 108 bytes on Linux, including the terminating NUL.
MAX_IPC_PATH = 107


def ipc_address(path: str | os.PathLike[str]) -> str:
    """``ipc://PATH``, or, when PATH is too long for a unix socket, a short stand-in in the
    temp directory named by PATH's digest (stable, so clients compute the same one)."""
    p = os.fspath(path)
    if len(p.encode()) <= MAX_IPC_PATH:
        return f"ipc://{p}"
    digest = hashlib.sha256(p.encode()).hexdigest()[:16]
    return f"ipc://{os.path.join(tempfile.gettempdir(), f'fma-{digest}.sock')}"
