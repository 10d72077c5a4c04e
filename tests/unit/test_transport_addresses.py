"""Default ipc endpoints always fit a unix socket path."""

from fma.transport.addresses import MAX_IPC_PATH, ipc_address


def test_short_ipc_path_is_used_as_is() -> None:
    assert ipc_address("/tmp/x/debug.sock") == "ipc:///tmp/x/debug.sock"


def test_too_long_ipc_path_gets_a_stable_short_stand_in() -> None:
    long = "/tmp/" + "d" * 150 + "/debug.sock"
    addr = ipc_address(long)
    assert addr == ipc_address(long)
    assert len(addr[len("ipc://"):].encode()) <= MAX_IPC_PATH
    assert addr != ipc_address(long + "2")
