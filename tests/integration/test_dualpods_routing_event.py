"""Event `OutdatedRoutingMetadata` (FMA: Warning on the server-requesting pod, message
beginning "Deleting server-requesting Pod because bound launcher is committed to outdated
ISC routing metadata"): the InferenceServerConfig's labels change under a bound launcher
to metadata the launcher cannot take, so the requester is deleted (made anew, it meets
the problem at bind time, as a status error). The Event reaches the API server."""

from __future__ import annotations

import json
from pathlib import Path

from kubernetes import client

from fma.controllers.dualpods import effects as E
from fma.controllers.dualpods import names as N
from fma.controllers.dualpods import pods as P
from fma.controllers.dualpods import routing
from fma.controllers.dualpods.executor import Executor
from fma.controllers.dualpods.sim import SimCluster
from fma.controllers.dualpods.world import Config
from fma.kube.dualpods_port import ClientKubePort
from fma.kube.emulator import Emulator

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = {"metadata": {"labels": {"team": "a"}},
            "spec": {"containers": [{"name": "inference-server", "image": "launcher"}]}}


def cluster(labels: dict[str, str]) -> SimCluster:
    c = SimCluster(config=Config())
    c.add_node("n1", ["G0"])
    c.world.lcfgs["lc1"] = {"spec": {"maxInstances": 2, "podTemplate": TEMPLATE}}
    c.world.iscs["a"] = {"spec": {"launcherConfigName": "lc1", "modelServerConfig": {
        "port": 8005, "options": "--model m1", "labels": labels}}}
    return c


def test_isc_labels_changed_to_a_key_the_launcher_already_has_warn_and_delete_the_requester() -> None:
    c = cluster({"model": "m1"})
    c.add_requester("r1", "n1", ["G0"], isc="a")
    c.settle()
    lname = P.name(c.world.bound_to(c.world.pods["r1"]))
    c.world.iscs["a"]["spec"]["modelServerConfig"]["labels"] = {"team": "b"}  # the template's own label
    c.settle()
    assert "r1" not in c.world.pods
    [(pod, type_, reason, message)] = c.events
    assert (pod, type_, reason) == ("r1", "Warning", "OutdatedRoutingMetadata")
    assert message.startswith(routing.OUTDATED_MESSAGE + ": ")
    assert "'team' collides with the launcher pod's own label" in message
    lp = c.world.pods[lname]
    assert P.labels(lp)["team"] == "a" and "model" not in P.labels(lp)  # untouched, then unbound
    assert P.bound_to(lp) is None


def test_a_label_change_the_launcher_can_take_is_applied_without_an_event() -> None:
    c = cluster({"model": "m1"})
    c.add_requester("r1", "n1", ["G0"], isc="a")
    c.settle()
    c.world.iscs["a"]["spec"]["modelServerConfig"]["labels"] = {"model": "m2"}
    c.settle()
    assert P.labels(c.world.bound_to(c.world.pods["r1"]))["model"] == "m2" and c.events == []


def test_unusable_routing_metadata_at_bind_time_is_a_requester_error_and_binds_nothing() -> None:
    c = cluster({N.LBL_DUAL: "x", "bad key!": "v", "ok": "not a label value"})
    c.add_requester("r1", "n1", ["G0"], isc="a")
    c.settle()
    errors = json.loads(P.annotations(c.world.pods["r1"])[N.ANN_STATUS])["Errors"]
    assert any("reserved prefix" in e for e in errors) and any("'bad key!'" in e for e in errors)
    assert any("not a valid label value" in e for e in errors)
    assert c.world.launchers() == [] and c.events == []


def test_the_event_is_a_warning_on_the_requester_pod_in_the_api_server() -> None:
    with Emulator(port=0, crd_dir=str(ROOT / "crds")) as emu:
        api = emu.api_client()
        core = client.CoreV1Api(api)
        r = core.create_namespaced_pod("default", {"metadata": {"name": "r1"}, "spec": {
            "containers": [{"name": "inference-server", "image": "x"}]}})
        pod = api.sanitize_for_serialization(r)
        port = ClientKubePort(api, "default")
        ex = Executor(port, lambda name: pod if name == "r1" else None, lambda o, n: None, set())
        try:
            msg = routing.OUTDATED_MESSAGE + ": ISC label key 'team' collides with the launcher pod's own label"
            ex.run(E.RecordEvent("r1", routing.OUTDATED_REASON, msg, "Warning"))
        finally:
            ex.close()
        [ev] = core.list_namespaced_event("default").items
        assert (ev.type, ev.reason, ev.message) == ("Warning", "OutdatedRoutingMetadata", msg)
        assert (ev.involved_object.kind, ev.involved_object.name, ev.involved_object.uid) == ("Pod", "r1", r.metadata.uid)
