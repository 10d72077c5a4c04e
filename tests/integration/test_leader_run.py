"""fma.kube.run_leading, the one leader-election policy of `fma controller` and
`fma populator`, against a real Lease on the API server emulator."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from fma.kube import NotFound, Rest, run_leading
from fma.kube.emulator import Emulator

ROOT = Path(__file__).resolve().parents[2]


def _until(fn: Callable[[], Any], timeout: float = 10.0) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if fn():
            return True
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {fn}")


def _holder(rest: Rest) -> str | None:
    try:
        return rest.get("leases", "default", "l")["spec"].get("holderIdentity")
    except NotFound:
        return None


class Calls:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def lead(self) -> None:
        self.seen.append("lead")

    def step_down(self) -> None:
        self.seen.append("step_down")


def _run(rest: Rest | None, calls: Calls, done: threading.Event) -> tuple[threading.Thread, list[int]]:
    out: list[int] = []
    t = threading.Thread(target=lambda: out.append(run_leading(
        rest, "default", "l", lead=calls.lead, step_down=calls.step_down, done=done, what="test",
        lease_duration=5.0, retry_period=0.05)), daemon=True)
    t.start()
    return t, out


def test_without_election_it_leads_at_once_and_steps_down_on_done() -> None:
    calls, done = Calls(), threading.Event()
    t, out = _run(None, calls, done)
    _until(lambda: calls.seen == ["lead"])
    done.set()
    t.join(5)
    assert out == [0] and calls.seen == ["lead", "step_down"]


@pytest.mark.timeout(30)
def test_a_holder_that_loses_the_lease_steps_down_and_exits_1_and_one_told_to_stop_gives_it_back() -> None:
    with Emulator(port=0, crd_dir=str(ROOT / "crds")) as emu:
        rest = Rest(emu.api_client())
        calls, done = Calls(), threading.Event()
        t, out = _run(rest, calls, done)
        _until(lambda: calls.seen == ["lead"] and _holder(rest))
        lease = rest.get("leases", "default", "l")
        lease["spec"]["holderIdentity"] = "someone-else"  # another replica took it over
        rest.replace("leases", "default", "l", lease)
        t.join(5)
        assert out == [1] and calls.seen == ["lead", "step_down"]
        assert _holder(rest) == "someone-else"

        lease = rest.get("leases", "default", "l")
        lease["spec"]["holderIdentity"] = ""
        rest.replace("leases", "default", "l", lease)
        calls, done = Calls(), threading.Event()
        t, out = _run(rest, calls, done)
        _until(lambda: calls.seen == ["lead"])
        done.set()
        t.join(5)
        assert out == [0] and calls.seen == ["lead", "step_down"] and _holder(rest) == ""
