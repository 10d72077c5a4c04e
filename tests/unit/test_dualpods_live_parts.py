"""Parts of the live controller: JSON patch, in-memory API server, work queue, journal, CLI."""

from __future__ import annotations

import threading

import pytest

from fma.cli import build_parser
from fma.cli.controller import _bytes
from fma.controllers.dualpods.decision import Decision
from fma.controllers.dualpods.journal import Journal
from fma.controllers.dualpods.memkube import MemoryKube
from fma.controllers.dualpods.port import KubeConflict, apply_json_patch, pointer
from fma.controllers.dualpods.workqueue import WorkQueue
from fma.events.fold import fold_log
from fma.statemachines import LIFECYCLES


def test_json_patch_test_op_guards_concurrent_writers():
    obj = {"metadata": {"resourceVersion": "5", "labels": {"a": "1"}}}
    out = apply_json_patch(obj, [{"op": "test", "path": "/metadata/resourceVersion", "value": "5"},
                                 {"op": "add", "path": pointer("metadata", "labels"), "value": {"b/c": "2"}}])
    assert out["metadata"]["labels"] == {"b/c": "2"} and obj["metadata"]["labels"] == {"a": "1"}
    with pytest.raises(KubeConflict):
        apply_json_patch(obj, [{"op": "test", "path": "/metadata/resourceVersion", "value": "4"}])


def test_memkube_finalizers_hold_deletion_and_forbid_new_ones():
    k = MemoryKube()
    k.create("pods", {"metadata": {"name": "p", "finalizers": ["f"]}})
    k.delete("pods", "p")
    assert k.get("pods", "p")["metadata"]["deletionTimestamp"]
    with pytest.raises(KubeConflict):
        k.update("pods", "p", lambda o: o["metadata"]["finalizers"].append("g"))
    k.update("pods", "p", lambda o: o["metadata"].update(finalizers=[]))
    assert k.get("pods", "p") is None


def test_memkube_generate_name_and_watch_delivery():
    k = MemoryKube()
    seen = []
    done = threading.Event()

    def cb(kind, type_, obj):
        seen.append((kind, type_, obj["metadata"]["name"]))
        if type_ == "DELETED":
            done.set()

    k.watch(cb)
    p = k.create("pods", {"metadata": {"generateName": "x-dual-"}})
    assert p["metadata"]["name"].startswith("x-dual-")
    k.delete("pods", p["metadata"]["name"])
    assert done.wait(5)
    k.stop()
    assert [t for _, t, _ in seen] == ["ADDED", "DELETED"]


def test_workqueue_never_hands_one_key_to_two_workers_and_requeues_dirty_keys():
    q = WorkQueue(base_delay=0.01)
    q.add("n1")
    assert q.get() == "n1"
    q.add("n1")  # while busy: marked dirty, not handed out
    q.add("n2")
    assert q.get() == "n2"
    q.done("n2")
    q.done("n1")
    assert q.get() == "n1"
    q.done("n1", ok=False)  # retried after back-off
    assert q.get() == "n1"
    q.done("n1")
    assert q.wait_idle(1)
    q.shutdown()
    assert q.get() is None


def test_journal_records_decisions_and_binding_lifecycle_folds():
    j = Journal()
    j.decided("ns", Decision("r1", "cold", "no sleeper", ("x",), "direct", "p1"))
    j.decided("ns", Decision("r1", "starting", "loading", (), "direct", "p1"))
    j.decided("ns", Decision("r1", "starting", "loading", (), "direct", "p1"))  # unchanged: not recorded
    from fma.controllers.dualpods.effects import BecomeReady
    j.decided("ns", Decision("r1", "serving", "ready", (BecomeReady("r1", "u", "p1"),), "direct", "p1"))
    recs = list(j.log.read())
    kinds = [r.data.get("kind") for r in recs if r.machine == "reconcile"]
    assert kinds == ["cold", "starting", "serving"]
    assert "reconcile" in LIFECYCLES
    states = fold_log(recs)
    assert states["binding/ns/r1"].state == "bound"


def test_controller_cli_parses_the_charts_arguments():
    a = build_parser().parse_args(["--log-level=INFO", "controller", "--namespace=fma", "--metrics-port=8002",
                                   "--debug-socket=ipc:///tmp/d.sock", "--leader-elect", "--sleeper-limit=2",
                                   "--host-memory-budget=1000000", "--debug-accelerator-memory"])
    assert a.sleeper_limit == 2 and a.namespace == "fma" and a.log_level == "INFO"


def test_byte_counts_accept_units():
    assert _bytes("200GB") == 200 * 10**9 and _bytes("1Gi") == 2**30 and _bytes("1000") == 1000
