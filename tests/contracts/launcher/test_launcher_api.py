"""FMA launcher REST contract (CONTRACTS.md A3) against the sim engine."""

from __future__ import annotations

import json
import os
import socket
import time
from typing import Any

import httpx
import pytest

from fma.engines import free_port


def opts(port: int | None = None, util: float = 0.3, extra: str = "") -> str:
    return f"--model m1 --port {port or free_port()} --gpu-memory-utilization {util} {extra}".strip()


def wait_phase(api: httpx.Client, iid: str, phase: str, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        st = api.get(f"/v2/vllm/instances/{iid}").json()
        if st.get("phase") == phase or time.monotonic() > deadline:
            assert st.get("phase") == phase, st
            return st
        time.sleep(0.02)


def count(api: httpx.Client) -> int:
    return api.get("/v2/vllm/instances", params={"detail": "false"}).json()["count"]


def test_health_answers_ok(api: httpx.Client) -> None:
    r = api.get("/health")
    assert r.status_code == 200 and r.json() == {"status": "OK"}


def test_index_lists_every_endpoint(api: httpx.Client) -> None:
    eps = api.get("/").json()["endpoints"]
    for key in ("create_instance", "create_named_instance", "delete_instance", "delete_all_instances",
                "get_instance_status", "get_all_instances", "get_instance_logs", "watch_instances"):
        assert key in eps


def test_openapi_document_is_served(api: httpx.Client) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    assert "/v2/vllm/instances/{instance_id}/log" in paths and "/v2/vllm/watch" in paths


def test_post_creates_instance_with_random_id_that_becomes_awake(api: httpx.Client, gpus: list[str]) -> None:
    body = {"options": opts(), "gpu_uuids": [gpus[0]], "env_vars": {"A": "1"}, "annotations": {"k": "v"}}
    r = api.post("/v2/vllm/instances", json=body)
    assert r.status_code == 201, r.text
    st = r.json()
    assert st["status"] == "running" and st["revision"] >= 1
    assert {k: st[k] for k in body} == body
    assert len(st["instance_id"]) == 36
    wait_phase(api, st["instance_id"], "awake")


def test_absent_optional_keys_are_omitted_from_state(api: httpx.Client) -> None:
    st = api.put("/v2/vllm/instances/plain", json={"options": opts()}).json()
    assert "gpu_uuids" not in st and "env_vars" not in st and "annotations" not in st


def test_put_creates_named_instance_and_second_put_is_409(api: httpx.Client) -> None:
    r = api.put("/v2/vllm/instances/inst-1", json={"options": opts()})
    assert r.status_code == 201 and r.json()["instance_id"] == "inst-1"
    r2 = api.put("/v2/vllm/instances/inst-1", json={"options": opts()})
    assert r2.status_code == 409 and "inst-1" in r2.json()["detail"]
    assert count(api) == 1


def test_list_detail_and_ids_shapes(api: httpx.Client) -> None:
    api.put("/v2/vllm/instances/a", json={"options": opts()})
    api.put("/v2/vllm/instances/b", json={"options": opts()})
    full = api.get("/v2/vllm/instances", params={"detail": "true"}).json()
    assert set(full) == {"revision", "total_instances", "running_instances", "instances"}
    assert full["total_instances"] == 2 and full["running_instances"] == 2
    ids = api.get("/v2/vllm/instances", params={"detail": "false"}).json()
    assert set(ids) == {"revision", "instance_ids", "count"}
    assert sorted(ids["instance_ids"]) == ["a", "b"] and ids["count"] == 2 and ids["revision"] == full["revision"]


def test_unknown_instance_is_404_with_detail(api: httpx.Client) -> None:
    for method, path in (("GET", "/v2/vllm/instances/nope"), ("DELETE", "/v2/vllm/instances/nope"),
                         ("GET", "/v2/vllm/instances/nope/log"), ("POST", "/v2/vllm/instances/nope/sleep"),
                         ("POST", "/v2/vllm/instances/nope/wake_up")):
        r = api.request(method, path)
        assert r.status_code == 404 and "nope" in r.json()["detail"], (method, path)


def test_delete_stops_process_and_removes_instance(api: httpx.Client, launcher: Any) -> None:
    api.put("/v2/vllm/instances/d1", json={"options": opts()})
    wait_phase(api, "d1", "awake")
    pid = launcher.node.get("d1").pid
    r = api.delete("/v2/vllm/instances/d1")
    assert r.status_code == 200 and r.json()["status"] == "stopped"
    assert api.get("/v2/vllm/instances/d1").status_code == 404
    from launcher.procs import start_ticks

    assert start_ticks(pid) is None


def test_delete_all_reports_every_stopped_instance(api: httpx.Client) -> None:
    for i in ("x", "y"):
        api.put(f"/v2/vllm/instances/{i}", json={"options": opts()})
    r = api.delete("/v2/vllm/instances").json()
    assert r["status"] == "all_stopped" and r["total_stopped"] == 2
    assert sorted(s["instance_id"] for s in r["stopped_instances"]) == ["x", "y"]
    assert all(s["status"] == "stopped" for s in r["stopped_instances"])
    assert count(api) == 0


# --- bad input: 4xx with a message, nothing half-created -------------------------------
@pytest.mark.parametrize("raw", [b"{not json", b"[1,2]", b'"options"', b""])
def test_malformed_json_is_422_and_creates_nothing(api: httpx.Client, raw: bytes) -> None:
    r = api.post("/v2/vllm/instances", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422 and isinstance(r.json()["detail"], str)
    assert count(api) == 0


@pytest.mark.parametrize("body", [{}, {"options": ""}, {"options": 5}, {"options": "--model m", "gpu_uuids": "x"},
                                  {"options": "--model m", "env_vars": {"A": 1}}, {"options": "--model m", "bogus": 1},
                                  {"options": "--model m", "env_vars": {"BAD NAME": "1"}}])
def test_bad_body_is_422_and_creates_nothing(api: httpx.Client, body: dict[str, Any]) -> None:
    r = api.put("/v2/vllm/instances/bb", json=body)
    assert r.status_code == 422 and r.json()["detail"]
    assert count(api) == 0


def test_unknown_gpu_uuid_is_422_naming_it(api: httpx.Client, launcher: Any) -> None:
    r = api.post("/v2/vllm/instances", json={"options": opts(), "gpu_uuids": ["GPU-nope"]})
    assert r.status_code == 422 and "GPU-nope" in r.json()["detail"]
    assert count(api) == 0


@pytest.mark.parametrize("options", ["--port 80x --model m", "--model", "--port 8000", "--model m 'unclosed",
                                     "--model m --gpu-memory-utilization 7"])
def test_options_the_parser_rejects_are_422(api: httpx.Client, options: str) -> None:
    r = api.post("/v2/vllm/instances", json={"options": options})
    assert r.status_code == 422 and r.json()["detail"]
    assert count(api) == 0


def test_port_in_use_is_409_and_creates_nothing(api: httpx.Client) -> None:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        s.listen()
        port = s.getsockname()[1]
        r = api.post("/v2/vllm/instances", json={"options": opts(port)})
    assert r.status_code == 409 and str(port) in r.json()["detail"]
    assert count(api) == 0


def test_port_of_another_instance_is_409(api: httpx.Client) -> None:
    port = free_port()
    assert api.put("/v2/vllm/instances/p1", json={"options": opts(port)}).status_code == 201
    r = api.put("/v2/vllm/instances/p2", json={"options": opts(port)})
    assert r.status_code == 409 and "p1" in r.json()["detail"]
    assert count(api) == 1


@pytest.mark.parametrize("iid", ["a b", "a%2Fb", "-lead", "x" * 64, "ünï", "a;rm"])
def test_odd_instance_ids_are_rejected(api: httpx.Client, iid: str) -> None:
    r = api.put(f"/v2/vllm/instances/{iid}", json={"options": opts()})
    assert 400 <= r.status_code < 500 and r.json()["detail"]
    assert count(api) == 0


def test_instance_that_does_not_fit_is_422_with_bytes_needed_and_free(api: httpx.Client, gpus: list[str]) -> None:
    assert api.put("/v2/vllm/instances/big", json={"options": opts(util=0.7), "gpu_uuids": [gpus[0]]}).status_code == 201
    r = api.put("/v2/vllm/instances/big2", json={"options": opts(util=0.5), "gpu_uuids": [gpus[0]]})
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert "needs 40000000000 bytes" in detail and "24000000000 bytes free" in detail
    assert count(api) == 1
    assert api.put("/v2/vllm/instances/other", json={"options": opts(util=0.5), "gpu_uuids": [gpus[1]]}).status_code == 201


# --- log with Range ------------------------------------------------------------------
@pytest.fixture
def logged(api: httpx.Client, launcher: Any) -> tuple[str, bytes]:
    api.put("/v2/vllm/instances/lg", json={"options": opts()})
    wait_phase(api, "lg", "awake")
    path = launcher.node.get("lg").log_path
    with open(path, "ab") as fh:
        fh.write(b"0123456789" * 10)
    return "lg", open(path, "rb").read()


def test_log_without_range_is_200_whole_file(api: httpx.Client, logged: tuple[str, bytes]) -> None:
    iid, content = logged
    r = api.get(f"/v2/vllm/instances/{iid}/log")
    assert r.status_code == 200 and r.content == content


def test_log_closed_range_is_206_with_content_range(api: httpx.Client, logged: tuple[str, bytes]) -> None:
    iid, content = logged
    r = api.get(f"/v2/vllm/instances/{iid}/log", headers={"Range": "bytes=3-9"})
    assert r.status_code == 206 and r.content == content[3:10]
    assert r.headers["content-range"] == f"bytes 3-9/{len(content)}"


def test_log_range_end_past_size_is_clamped(api: httpx.Client, logged: tuple[str, bytes]) -> None:
    iid, content = logged
    r = api.get(f"/v2/vllm/instances/{iid}/log", headers={"Range": f"bytes=5-{len(content) + 100}"})
    assert r.status_code == 206 and r.content == content[5:]
    assert r.headers["content-range"] == f"bytes 5-{len(content) - 1}/{len(content)}"


def test_log_open_range_is_capped_at_one_mib(api: httpx.Client, launcher: Any, logged: tuple[str, bytes]) -> None:
    iid, _ = logged
    path = launcher.node.get(iid).log_path
    with open(path, "ab") as fh:
        fh.write(b"z" * (2 * 1024 * 1024))
    total = os.path.getsize(path)
    r = api.get(f"/v2/vllm/instances/{iid}/log", headers={"Range": "bytes=10-"})
    assert r.status_code == 206 and len(r.content) == 1024 * 1024
    assert r.headers["content-range"] == f"bytes 10-{10 + 1024 * 1024 - 1}/{total}"
    assert len(api.get(f"/v2/vllm/instances/{iid}/log").content) == 1024 * 1024


@pytest.mark.parametrize("header", ["bytes=-5", "items=0-5", "bytes=9-3", "bytes=a-b", "bytes=0-1,3-4", "bytes"])
def test_log_bad_range_is_400(api: httpx.Client, logged: tuple[str, bytes], header: str) -> None:
    r = api.get(f"/v2/vllm/instances/{logged[0]}/log", headers={"Range": header})
    assert r.status_code == 400 and r.json()["detail"]


def test_log_range_start_at_or_past_size_is_416(api: httpx.Client, logged: tuple[str, bytes]) -> None:
    iid, content = logged
    for start in (len(content), len(content) + 7):
        r = api.get(f"/v2/vllm/instances/{iid}/log", headers={"Range": f"bytes={start}-"})
        assert r.status_code == 416 and r.headers["content-range"] == f"bytes */{len(content)}"


# --- sleep / wake ---------------------------------------------------------------------
def test_sleep_and_wake_routes_go_through_the_lifecycle(api: httpx.Client, launcher: Any) -> None:
    api.put("/v2/vllm/instances/s1", json={"options": opts()})
    wait_phase(api, "s1", "awake")
    r = api.post("/v2/vllm/instances/s1/sleep", params={"level": 1})
    assert r.status_code == 200 and r.json()["phase"] == "sleeping" and r.json()["status"] == "running"
    assert api.post("/v2/vllm/instances/s1/sleep").json()["phase"] == "sleeping"  # idempotent
    r = api.post("/v2/vllm/instances/s1/wake_up")
    assert r.status_code == 200 and r.json()["phase"] == "awake"
    events = [rec.event for rec in launcher.node.log.read() if rec.actor.endswith("/s1")]
    assert events == ["start", "ready", "sleep", "slept", "wake", "woke"]


def test_sleep_while_loading_is_409(api: httpx.Client, launcher: Any) -> None:
    api.put("/v2/vllm/instances/slow", json={"options": opts(extra="--health-delay 100")})
    r = api.post("/v2/vllm/instances/slow/sleep")
    assert r.status_code == 409 and "loading" in r.json()["detail"]


def test_wake_that_does_not_fit_is_422(api: httpx.Client, gpus: list[str]) -> None:
    api.put("/v2/vllm/instances/w1", json={"options": opts(util=0.6), "gpu_uuids": [gpus[0]]})
    wait_phase(api, "w1", "awake")
    assert api.post("/v2/vllm/instances/w1/sleep").json()["phase"] == "sleeping"
    assert api.put("/v2/vllm/instances/w2", json={"options": opts(util=0.6), "gpu_uuids": [gpus[0]]}).status_code == 201
    r = api.post("/v2/vllm/instances/w1/wake_up")
    assert r.status_code == 422 and "needs" in r.json()["detail"] and "free" in r.json()["detail"]


# --- watch ----------------------------------------------------------------------------
def read_events(api: httpx.Client, path: str, n: int, params: dict[str, Any] | None = None,
                during: Any = None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    with api.stream("GET", path, params=params, timeout=15) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
        lines = r.iter_lines()
        if during is not None:
            during()
        for line in lines:
            if line.strip():
                out.append(json.loads(line))
            if len(out) >= n:
                break
    return out


def test_watch_without_since_lists_existing_then_streams_live(api: httpx.Client) -> None:
    api.put("/v2/vllm/instances/w-a", json={"options": opts()})

    def act() -> None:
        api.put("/v2/vllm/instances/w-b", json={"options": opts()})
        api.delete("/v2/vllm/instances/w-b")

    evs = read_events(api, "/v2/vllm/watch", 3, during=act)
    assert [e["type"] for e in evs] == ["CREATED", "CREATED", "DELETED"]
    assert evs[0]["object"]["instance_id"] == "w-a"
    assert evs[1]["object"]["instance_id"] == "w-b" and evs[2]["object"]["status"] == "stopped"
    assert evs[2]["object"]["revision"] == evs[1]["object"]["revision"] + 1


def test_watch_since_replays_events_after_that_revision(api: httpx.Client) -> None:
    r0 = api.get("/v2/vllm/instances").json()["revision"]
    api.put("/v2/vllm/instances/r1", json={"options": opts()})
    api.delete("/v2/vllm/instances/r1")
    evs = read_events(api, "/v2/vllm/instances/watch", 2, params={"since": r0})
    assert [(e["type"], e["object"]["revision"]) for e in evs] == [("CREATED", r0 + 1), ("DELETED", r0 + 2)]


def test_crash_is_a_stopped_event_with_exit_code(api: httpx.Client) -> None:
    r0 = api.get("/v2/vllm/instances").json()["revision"]
    api.put("/v2/vllm/instances/c1", json={"options": opts(extra="--crash-after 100")})
    evs = read_events(api, "/v2/vllm/watch", 2, params={"since": r0})
    assert evs[1]["type"] == "STOPPED" and evs[1]["object"]["exit_code"] not in (None, 0)
    st = api.get("/v2/vllm/instances/c1").json()
    assert st["status"] == "stopped" and st["phase"] == "failed"
    assert api.delete("/v2/vllm/instances/c1").status_code == 200


def test_watch_since_older_than_buffer_is_410(api: httpx.Client, launcher: Any) -> None:
    from launcher.ids import WatchEvent

    node = launcher.node
    with node.lock:
        for _ in range(1005):
            node.revision += 1
            node.watch.add(WatchEvent(node.revision, "CREATED", {"instance_id": "fake", "revision": node.revision}))
    r = api.get("/v2/vllm/watch", params={"since": 1})
    assert r.status_code == 410 and "no longer available" in r.json()["detail"]
    assert api.get("/v2/vllm/instances/watch", params={"since": 1}).status_code == 410
    ok = read_events(api, "/v2/vllm/watch", 1, params={"since": node.revision - 1000})
    assert ok[0]["object"]["revision"] == node.revision - 999


def test_instance_named_watch_stays_reachable(api: httpx.Client) -> None:
    assert api.put("/v2/vllm/instances/watch", json={"options": opts()}).status_code == 201
    r = api.get("/v2/vllm/instances/watch")
    assert r.status_code == 200 and r.json()["instance_id"] == "watch"
    evs = read_events(api, "/v2/vllm/watch", 1)
    assert evs[0]["object"]["instance_id"] == "watch"
    assert api.delete("/v2/vllm/instances/watch").json()["instance_id"] == "watch"


def test_metrics_report_instances_by_state_and_gpu_bytes(api: httpx.Client, gpus: list[str]) -> None:
    api.put("/v2/vllm/instances/m1", json={"options": opts(util=0.25), "gpu_uuids": [gpus[0]]})
    wait_phase(api, "m1", "awake")
    text = api.get("/metrics").text
    assert 'fma_launcher_instances{state="awake"} 1.0' in text
    line = next(ln for ln in text.splitlines() if ln.startswith(f'fma_launcher_gpu_bytes_used{{gpu="{gpus[0]}"}}'))
    assert float(line.split()[-1]) == 0.25 * 80 * 10**9
    assert "fma_launcher_start_seconds_count 1.0" in text
