"""A debug-socket filter that is not a string is refused, even when it is falsy."""

from __future__ import annotations

from pathlib import Path

import pytest

from fma.events import MemoryLog
from fma.transport import DebugClient, DebugError, serve_debug_socket


@pytest.mark.parametrize("value", [0.0, 0, [], False])
def test_falsy_non_string_prefix_is_a_bad_request(tmp_path: Path, value: object) -> None:
    server = serve_debug_socket(f"ipc://{tmp_path}/d.sock", MemoryLog())
    try:
        with DebugClient(server.address) as client:
            with pytest.raises(DebugError, match="prefix"):
                client.request({"op": "state", "prefix": value})
            assert client.request({"op": "state", "prefix": ""})["ok"] is True
    finally:
        server.stop()
