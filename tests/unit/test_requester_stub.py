"""The requester stub (CONTRACTS.md A4): every route, the GPU sources, and the proxy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from fma.requester.gpus import find_gpus, load_gpu_map
from fma.requester.server import RequesterServer, RequesterState


@pytest.fixture
def stub():
    state = RequesterState(gpus=("GPU-a", "GPU-b"), mock=True, name="r1")
    with RequesterServer(state, "127.0.0.1", 0, 0, 0) as srv:
        yield srv


def get(srv, key, path, **kw):
    return httpx.get(srv.url(key) + path, trust_env=False, **kw)


def post(srv, key, path, **kw):
    return httpx.post(srv.url(key) + path, trust_env=False, **kw)


def test_accelerators_lists_the_gpu_uuids(stub):
    r = get(stub, "admin", "/v1/dual-pods/accelerators")
    assert r.status_code == 200 and r.json() == ["GPU-a", "GPU-b"]


def test_accelerators_is_500_when_no_gpu():
    with RequesterServer(RequesterState(gpus=()), "127.0.0.1", 0, 0, None) as srv:
        r = get(srv, "admin", "/v1/dual-pods/accelerators")
        assert r.status_code == 500 and "no GPU" in r.json()["detail"]


def test_accelerator_memory_usage_maps_uuid_to_used_mib(stub):
    r = get(stub, "admin", "/v1/dual-pods/accelerator-memory-usage")
    assert r.status_code == 200 and r.json() == {"GPU-a": 0, "GPU-b": 0}


def test_ready_is_503_until_become_ready_and_again_after_become_unready(stub):
    assert get(stub, "probe", "/ready").status_code == 503
    assert post(stub, "admin", "/v1/become-ready").status_code == 200
    assert get(stub, "probe", "/ready").status_code == 200
    assert post(stub, "admin", "/v1/become-unready").status_code == 200
    assert get(stub, "probe", "/ready").status_code == 503


def test_health_answers_200(stub):
    assert get(stub, "probe", "/health").status_code == 200


def test_set_log_appends_only_the_new_part_of_a_chunk(stub):
    assert post(stub, "admin", "/v1/set-log?startPos=0", content=b"hello ").json() == {"length": 6}
    # overlapping chunk: only "world" is new
    assert post(stub, "admin", "/v1/set-log?startPos=3", content=b"lo world").json() == {"length": 11}
    assert stub.state.log_text == "hello world"
    r = post(stub, "admin", "/v1/set-log?startPos=50", content=b"x")
    assert r.status_code == 400 and "past the end" in r.json()["detail"]
    assert post(stub, "admin", "/v1/set-log?startPos=-1", content=b"x").status_code == 400


def test_proxy_config_is_one_shot(stub):
    assert get(stub, "admin", "/v1/proxy/config").status_code == 404
    url = stub.url("admin") + "/v1/proxy/config"
    r = httpx.put(url, json={"address": "10.0.0.1", "port": 8000}, trust_env=False)
    assert r.status_code == 200 and r.json() == {"address": "10.0.0.1", "port": 8000}
    assert get(stub, "admin", "/v1/proxy/config").json() == {"address": "10.0.0.1", "port": 8000}
    r = httpx.put(url, json={"address": "10.0.0.2", "port": 8000}, trust_env=False)
    assert r.status_code == 409


@pytest.mark.parametrize("body", [{}, {"address": "x"}, {"address": "x", "port": 0}, {"address": "", "port": 1},
                                  {"address": "x", "port": "80"}])
def test_proxy_config_rejects_bad_bodies(stub, body):
    r = httpx.put(stub.url("admin") + "/v1/proxy/config", json=body, trust_env=False)
    assert r.status_code == 422


class _Echo(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        out = json.dumps({"path": self.path, "body": body.decode()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *a):
        pass


def test_proxy_forwards_inference_requests_to_the_provider_after_become_ready(stub):
    echo = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    t = threading.Thread(target=echo.serve_forever, daemon=True)
    t.start()
    try:
        assert post(stub, "proxy", "/v1/completions", json={"prompt": "x"}).status_code == 503
        target = {"address": "127.0.0.1", "port": echo.server_address[1]}
        assert post(stub, "admin", "/v1/become-ready", json=target).status_code == 200
        r = post(stub, "proxy", "/v1/completions?x=1", json={"prompt": "hi"})
        assert r.status_code == 200
        assert r.json()["path"] == "/v1/completions?x=1"
        assert json.loads(r.json()["body"]) == {"prompt": "hi"}
    finally:
        echo.shutdown()
        echo.server_close()


def test_proxy_reports_502_when_the_provider_is_unreachable(stub):
    httpx.put(stub.url("admin") + "/v1/proxy/config", json={"address": "127.0.0.1", "port": 1}, trust_env=False)
    post(stub, "admin", "/v1/become-ready")
    assert post(stub, "proxy", "/v1/completions", json={}).status_code == 502


def test_gpus_from_flags_win():
    src = find_gpus("GPU-1,GPU-2", {"NVIDIA_VISIBLE_DEVICES": "GPU-9"}, use_nvml=False)
    assert src.uuids == ("GPU-1", "GPU-2") and src.source == "flags"


def test_gpus_from_nvidia_visible_devices_uuids():
    src = find_gpus(None, {"NVIDIA_VISIBLE_DEVICES": "GPU-x,GPU-y"}, use_nvml=False)
    assert src.uuids == ("GPU-x", "GPU-y") and src.source == "env"


def test_gpu_indices_are_mapped_with_gpu_map(tmp_path):
    f = tmp_path / "gm.json"
    f.write_text(json.dumps({"n1": json.dumps({"GPU-a": 0, "GPU-b": 1})}))
    gmap = load_gpu_map(str(f), "n1")
    src = find_gpus(None, {"NVIDIA_VISIBLE_DEVICES": "1"}, gmap, use_nvml=False)
    assert src.uuids == ("GPU-b",) and src.source == "env+gpu-map"


def test_no_gpu_source_says_why():
    src = find_gpus(None, {"NVIDIA_VISIBLE_DEVICES": "all"}, use_nvml=False)
    assert src.uuids == () and "NVIDIA_VISIBLE_DEVICES='all'" in src.reason


def test_cli_starts_on_ephemeral_ports_and_serves_the_spi():
    env = {**os.environ, "NO_PROXY": "*"}
    proc = subprocess.Popen([sys.executable, "-m", "fma", "requester", "--host", "127.0.0.1", "--admin-port", "0",
                             "--port", "0", "--proxy-port", "-1", "--gpus", "GPU-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert line.startswith("READY"), line
        ports = dict(kv.split("=") for kv in line.split()[1:])
        r = httpx.get(f"http://127.0.0.1:{ports['admin']}/v1/dual-pods/accelerators", trust_env=False)
        assert r.json() == ["GPU-q"]
        assert httpx.get(f"http://127.0.0.1:{ports['port']}/ready", trust_env=False).status_code == 503
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
