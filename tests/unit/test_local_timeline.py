"""fma local's timeline (servers' states per GPU, from pod events), its picture, GPU bytes
from the simulators' ledgers, and the live view's GPU table."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from fma.local import gpumem
from fma.local.observe import Observer, Requester
from fma.local.placement import ANN_GPUS
from fma.local.timeline import Span, Timeline, draw, row_labels
from fma.local.view import gpu_table, render_live

P = "dual-pods.llm-d.ai/"


def pod(name: str, uid: str = "u", ready: bool = False, gpus: str = "", deleting: bool = False, **labels: str) -> dict:
    meta = {"name": name, "uid": uid, "labels": {P + k: v for k, v in labels.items()},
            "annotations": {ANN_GPUS: gpus} if gpus else {}}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta, "spec": {"nodeName": "node-0"},
            "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def test_timeline_closes_a_span_when_the_state_changes_and_keeps_label_and_gpus() -> None:
    tl = Timeline()
    tl.set("p", "starting", 1.0, label="llama · r1", node="node-0", gpus=["G0"])
    tl.set("p", "starting", 1.5)                  # no change, no new span
    tl.set("p", "awake", 3.0)
    tl.set("p", "asleep", 5.0)
    tl.set("p", "gone", 9.0)
    tl.set("q", "awake", 6.0, label="qwen", node="node-0", gpus=["G1"])
    got = [(s.server, s.state, s.start, s.end, s.label, s.gpus) for s in tl.spans(end=10.0)]
    assert got == [("p", "starting", 1.0, 3.0, "llama · r1", ("G0",)), ("p", "awake", 3.0, 5.0, "llama · r1", ("G0",)),
                   ("p", "asleep", 5.0, 9.0, "llama · r1", ("G0",)), ("q", "awake", 6.0, 10.0, "qwen", ("G1",))]


def test_observer_draws_a_direct_provider_starting_awake_then_asleep_from_pod_events() -> None:
    t = [0.0]
    obs = Observer(clock=lambda: t[0])
    obs.expect_requester(Requester("r1", "direct", "org/llama", 1, created=0.0))
    t[0] = 1
    obs.on_pod("MODIFIED", pod("r1", gpus="G0", dual="r1-dual-x"))
    t[0] = 4
    obs.on_pod("MODIFIED", pod("r1", ready=True, gpus="G0", dual="r1-dual-x"))
    t[0] = 6
    obs.on_pod("DELETED", pod("r1"))
    t[0] = 7
    obs.on_pod("MODIFIED", pod("r1-dual-x", sleeping="true"))
    spans = [(s.server, s.state, s.start, s.end, s.gpus, s.label) for s in obs.timeline.spans(end=10.0)]
    assert spans == [("r1-dual-x", "starting", 1, 4, ("G0",), "llama · r1"), ("r1-dual-x", "awake", 4, 7, ("G0",), "llama · r1"),
                     ("r1-dual-x", "asleep", 7, 10.0, ("G0",), "llama · r1")]


def test_observer_puts_a_launcher_instance_to_sleep_when_its_requester_goes_and_counts_the_sleep() -> None:
    t = [0.0]
    obs = Observer(clock=lambda: t[0])
    obs.expect_requester(Requester("a", "launcher", "m", 1, created=0.0))
    obs.on_pod("ADDED", pod("launcher-x"))
    t[0] = 2
    obs.on_pod("MODIFIED", pod("a", ready=True, gpus="G1", dual="launcher-x", instance="I123456789abc"))
    t[0] = 3
    obs.on_pod("MODIFIED", pod("a", ready=True, gpus="G1", deleting=True, dual="launcher-x", instance="I123456789abc"))
    t[0] = 4
    obs.on_pod("DELETED", pod("a"))
    assert obs.timeline.state_of("launcher-x/I123456789") == "asleep" and obs.sleeps == 1
    t[0] = 8
    obs.on_pod("DELETED", pod("launcher-x"))   # the launcher goes, and its instances with it
    assert obs.timeline.open == {}
    assert [(s.state, s.start, s.end) for s in obs.timeline.spans(end=9.0)] == [("awake", 2, 4), ("asleep", 4, 8)]


def synthetic() -> list[Span]:
    return [Span("p1", "llama · r1", "node-0", ("G0",), "starting", 10.0, 14.0),
            Span("p1", "llama · r1", "node-0", ("G0",), "awake", 14.0, 20.0),
            Span("p1", "llama · r1", "node-0", ("G0",), "asleep", 20.0, 30.0),
            Span("l/I1", "qwen · r2", "node-0", ("G0", "G1"), "awake", 22.0, 30.0)]


@pytest.mark.parametrize("ext, magic", [("png", b"\x89PNG"), ("svg", b"<?xml")])
def test_draw_writes_a_nonempty_picture_in_the_format_of_the_extension(tmp_path: Path, ext: str, magic: bytes) -> None:
    out = draw(synthetic(), str(tmp_path / f"t.{ext}"), t0=10.0, rows=[("node-0", "G0"), ("node-0", "G1"), ("node-1", "H0")])
    data = Path(out).read_bytes()
    assert data.startswith(magic) and len(data) > 2000
    if ext == "svg":
        assert b"llama" in data and b"node-1 GPU 0" in data


def test_draw_refuses_an_unknown_extension_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"t\.gif.*\.png"):
        draw(synthetic(), str(tmp_path / "t.gif"), t0=0.0)


def test_rows_are_labelled_by_node_and_gpu_position() -> None:
    assert row_labels([("node-0", "A"), ("node-0", "B"), ("node-1", "C")]) == ["node-0 GPU 0", "node-0 GPU 1", "node-1 GPU 0"]


def test_gpu_bytes_sum_live_owners_over_every_ledger_of_a_node(tmp_path: Path) -> None:
    me, dead = os.getpid(), 2**22 + 12345   # above pid_max on Linux: never a live process
    (tmp_path / "gpu-ledger").mkdir()
    (tmp_path / "gpu-ledger" / "gpus.json").write_text(json.dumps(
        {"capacity": {"G0": 80}, "claims": {f"{me}:a": {"G0": 30}, f"{dead}:b": {"G0": 40}}}))
    (tmp_path / "launchers" / "l1" / "gpu-ledger").mkdir(parents=True)
    (tmp_path / "launchers" / "l1" / "gpu-ledger" / "gpus.json").write_text(json.dumps(
        {"capacity": {}, "claims": {f"{me}:c": {"G0": 5, "G1": 7}}}))
    (tmp_path / "launchers" / "l2" / "gpu-ledger").mkdir(parents=True)
    (tmp_path / "launchers" / "l2" / "gpu-ledger" / "gpus.json").write_text("{torn")
    assert gpumem.node_usage(tmp_path) == {"G0": 35, "G1": 7}
    rows = gpumem.cluster_usage({"node-0": (str(tmp_path), ["G0", "G1", "G2"])}, 80)
    assert rows == [("node-0", 0, "G0", 35, 80), ("node-0", 1, "G1", 7, 80), ("node-0", 2, "G2", 0, 80)]


def test_live_view_shows_gpu_bytes_per_gpu() -> None:
    from rich.console import Console

    rows = [("node-0", 0, "GPU-aaaa-000000000000", 72 * 10**9, 80 * 10**9), ("node-0", 1, "GPU-aaaa-000000000001", 0, 80 * 10**9)]
    con = Console(record=True, width=140, color_system=None)
    con.print(gpu_table(rows))
    text = con.export_text()
    assert "72.0 / 80 GB" in text and "0.0 / 80 GB" in text and "█" in text
    obs = Observer()
    obs.on_pod("ADDED", pod("r1", ready=True, gpus="GPU-aaaa-000000000000", dual="r1-dual-x"))   # a pod holding a GPU
    con = Console(record=True, width=160, color_system=None)
    con.print(render_live(obs, "t", 0.0, gpus=rows))
    text = con.export_text()
    assert "GPU memory" in text and "72.0 / 80 GB" in text and "r1" in text
