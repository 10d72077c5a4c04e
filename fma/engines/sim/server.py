"""The simulated vLLM server: vLLM's HTTP surface (aiohttp) over :mod:`.model` and :mod:`.ledger`.

Behaviour copied from observing vLLM 0.32 (docs/DECISIONS.md, "Engines: what real vLLM
does"): the port opens only when loading is done; ``/health`` and ``/v1/models`` answer
while asleep; a completion sent while asleep waits and is served after wake-up; an
unknown model is 404 ``NotFoundError``; ``/sleep?level=5`` is 400; a failed wake is 500
``InternalServerError`` with "Call to wake_up method failed: CUDA out of memory ...".
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Sequence

from aiohttp import web

from fma.engines.sim.ledger import FileLedger, InstanceMemory, LocalLedger, OutOfMemory
from fma.engines.sim.model import SimParams

log = logging.getLogger("fma.sim_vllm")
WORDS = ("the a model server sleeps wakes gpu node pod launcher fast weights memory host "
         "tokens prompt answer cluster swap level one two three four five").split()


@dataclass
class Faults:
    fail_wake_oom: int = 0          # the next N wakes fail with vLLM's CUDA OOM error
    crash_after_s: float | None = None  # modelled seconds after start; exit code 1
    health_delay_s: float = 0.0     # each /health answers this many modelled seconds late


@dataclass
class SimConfig:
    params: SimParams
    model: str
    served_names: tuple[str, ...]
    port: int
    host: str = "127.0.0.1"
    max_model_len: int = 2048
    gpus: tuple[str, ...] = ("0",)
    ledger: FileLedger | LocalLedger | None = None
    faults: Faults = field(default_factory=Faults)
    token_latency_s: float = 0.0


def error_body(message: str, err_type: str, code: int, param: str | None = None) -> dict[str, Any]:
    """vLLM's error shape: ``{"error": {"message", "type", "param", "code"}}``."""
    return {"error": {"message": message, "type": err_type, "param": param, "code": code}}


def _err(message: str, err_type: str, code: int, param: str | None = None) -> web.Response:
    return web.json_response(error_body(message, err_type, code, param), status=code)


def generate_text(model: str, prompt: str, max_tokens: int, seed: int | None, temperature: float) -> list[str]:
    """Deterministic words: temperature 0 ignores the seed, as greedy decoding would."""
    salt = "" if temperature == 0 else str(seed)
    out = []
    for i in range(max_tokens):
        h = hashlib.sha256(f"{model}|{prompt}|{salt}|{i}".encode()).digest()
        out.append(WORDS[h[0] % len(WORDS)])
    return out


class SimServer:
    def __init__(self, cfg: SimConfig) -> None:
        self.cfg = cfg
        self.p = cfg.params
        self.owner = f"{os.getpid()}:{cfg.port}"
        self.ledger = cfg.ledger or LocalLedger(self.p.gpu_memory_bytes)
        self.gpus = list(cfg.gpus[: self.p.tensor_parallel_size])
        self.memory = InstanceMemory(self.ledger, self.owner, self.gpus, self.p.gpu_claim_bytes,
                                     self.p.weights_per_gpu)
        self.sleeping = False
        self.level = 0
        self.awake_tags: set[str] = {"weights", "kv_cache"}
        self.awake = asyncio.Event()
        self.awake.set()
        self.op_lock = asyncio.Lock()
        self.waiting = 0
        self.running = 0
        self.wakes_failed = 0
        self.started = time.time()

    # -- memory -----------------------------------------------------------------------------
    def gpu_bytes(self) -> int:
        """Bytes this server holds on each of its GPUs."""
        return self.memory.held_per_gpu()

    async def pause(self, modelled_s: float) -> None:
        if modelled_s > 0:
            await asyncio.sleep(self.p.wall(modelled_s))

    # -- admin ------------------------------------------------------------------------------
    async def health(self, request: web.Request) -> web.Response:
        await self.pause(self.cfg.faults.health_delay_s)
        return web.Response(status=200)

    async def is_sleeping(self, request: web.Request) -> web.Response:
        return web.json_response({"is_sleeping": self.sleeping})

    async def sleep(self, request: web.Request) -> web.Response:
        raw = request.query.get("level", "1")
        try:
            level = int(raw)
            if not 0 <= level <= 2:
                raise ValueError
        except ValueError:
            return _err(f"1 validation error:\n  {{'loc': 'query.level', 'msg': 'Input should be 0, 1 or 2', "
                        f"'input': {raw!r}}}", "Bad Request", 400, "query.level")
        async with self.op_lock:
            if not self.sleeping:
                self.awake.clear()
                if level > 0:
                    await self.pause(self.p.sleep_s(level))
                    self.memory.sleep()
                    self.awake_tags = set()
                self.sleeping, self.level = True, level
                log.info("sim %s: asleep (level %d)", self.cfg.model, level)
        return web.json_response({"status": "sleeping", "level": level})

    async def wake_up(self, request: web.Request) -> web.Response:
        tags = request.query.getall("tags", []) or None
        async with self.op_lock:
            if not self.sleeping:
                return web.json_response({"status": "awake", "tags": tags})
            if self.cfg.faults.fail_wake_oom > self.wakes_failed:
                self.wakes_failed += 1
                return self._oom(OutOfMemory(self.gpus[0] if self.gpus else "0", 0, self.p.weights_per_gpu,
                                             self.p.gpu_memory_bytes, 0))
            wanted = [t for t in (tags or ["weights", "kv_cache"]) if t in ("weights", "kv_cache")]
            for tag in ("weights", "kv_cache"):  # weights first, as vLLM does
                if tag not in wanted or tag in self.awake_tags or self.level == 0:
                    continue
                try:
                    self.memory.wake(tag)
                except OutOfMemory as exc:
                    return self._oom(exc)
                await self.pause(self.p.wake_s(self.level) if tag == "weights" else self.p.release_s)
                self.awake_tags.add(tag)
            if self.level == 0 or self.awake_tags >= {"weights", "kv_cache"}:
                self.sleeping, self.level = False, 0
                self.awake_tags = {"weights", "kv_cache"}
                self.awake.set()
                log.info("sim %s: awake", self.cfg.model)
        return web.json_response({"status": "sleeping" if self.sleeping else "awake", "tags": tags})

    def _oom(self, exc: OutOfMemory) -> web.Response:
        log.warning("sim %s: wake failed: %s", self.cfg.model, exc)
        return _err(f"Call to wake_up method failed: {exc}", "InternalServerError", 500)

    # -- OpenAI surface -------------------------------------------------------------------------
    async def models(self, request: web.Request) -> web.Response:
        data = [{"id": n, "object": "model", "created": int(self.started), "owned_by": "vllm",
                 "root": self.cfg.model, "parent": None, "max_model_len": self.cfg.max_model_len,
                 "permission": []} for n in self.cfg.served_names]
        return web.json_response({"object": "list", "data": data})

    async def _inference(self, request: web.Request, chat: bool) -> web.StreamResponse:
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("body must be a JSON object")
        except (ValueError, json.JSONDecodeError) as exc:
            return _err(f"invalid JSON body: {exc}", "BadRequestError", 400)
        model = body.get("model") or self.cfg.served_names[0]
        if model not in self.cfg.served_names:
            return _err(f"The model `{model}` does not exist. Valid aliases: {', '.join(self.cfg.served_names)}.",
                        "NotFoundError", 404, "model")
        if chat:
            msgs = body.get("messages")
            if not isinstance(msgs, list) or not msgs:
                return _err("messages: a non-empty list is required", "BadRequestError", 400, "messages")
            prompt = "\n".join(str(m.get("content", "")) for m in msgs if isinstance(m, dict))
        else:
            prompt = body.get("prompt")
            if isinstance(prompt, list):
                prompt = " ".join(map(str, prompt))
            if not isinstance(prompt, str):
                return _err("prompt: a string is required", "BadRequestError", 400, "prompt")
        max_tokens = int(body.get("max_tokens") or body.get("max_completion_tokens") or 16)
        temperature = float(body.get("temperature", 1.0) if body.get("temperature") is not None else 1.0)
        self.waiting += 1
        try:
            await self.awake.wait()  # a request sent while asleep waits for the wake-up
        finally:
            self.waiting -= 1
        self.running += 1
        try:
            await self.pause(self.cfg.token_latency_s * max_tokens)
        finally:
            self.running -= 1
        words = generate_text(model, prompt, max_tokens, body.get("seed"), temperature)
        text = " " + " ".join(words)
        usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": max_tokens,
                 "total_tokens": len(prompt.split()) + max_tokens, "prompt_tokens_details": None}
        rid, created = uuid.uuid4().hex[:16], int(time.time())
        if chat:
            choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": text.strip(),
                                                              "tool_calls": []},
                                      "logprobs": None, "finish_reason": "length", "stop_reason": None}
            out = {"id": f"chatcmpl-{rid}", "object": "chat.completion", "created": created,
                   "model": model, "choices": [choice], "usage": usage}
        else:
            choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": "length", "stop_reason": None}
            out = {"id": f"cmpl-{rid}", "object": "text_completion", "created": created,
                   "model": model, "choices": [choice], "usage": usage}
        if body.get("stream"):
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await resp.prepare(request)
            await resp.write(f"data: {json.dumps(out)}\n\n".encode())
            await resp.write(b"data: [DONE]\n\n")
            await resp.write_eof()
            return resp
        return web.json_response(out)

    async def completions(self, request: web.Request) -> web.StreamResponse:
        return await self._inference(request, chat=False)

    async def chat(self, request: web.Request) -> web.StreamResponse:
        return await self._inference(request, chat=True)

    async def metrics(self, request: web.Request) -> web.Response:
        name = self.cfg.served_names[0]
        state = {"awake": 0.0 if self.sleeping else 1.0,
                 "weights_offloaded": 1.0 if self.sleeping and self.level == 1 else 0.0,
                 "discard_all": 1.0 if self.sleeping and self.level == 2 else 0.0}
        lines = ["# HELP vllm:engine_sleep_state Engine sleep state (simulated).",
                 "# TYPE vllm:engine_sleep_state gauge"]
        lines += [f'vllm:engine_sleep_state{{engine="0",model_name="{name}",sleep_state="{k}"}} {v}'
                  for k, v in state.items()]
        lines += ["# TYPE vllm:num_requests_running gauge",
                  f'vllm:num_requests_running{{engine="0",model_name="{name}"}} {float(self.running)}',
                  "# TYPE vllm:num_requests_waiting gauge",
                  f'vllm:num_requests_waiting{{engine="0",model_name="{name}"}} {float(self.waiting)}',
                  "# TYPE fma_sim_gpu_bytes gauge", f"fma_sim_gpu_bytes {self.gpu_bytes()}",
                  "# TYPE fma_sim_host_bytes gauge",
                  f"fma_sim_host_bytes {self.p.host_bytes_level1 if self.sleeping and self.level == 1 else 0}",
                  "# TYPE fma_sim_kv_cache_tokens gauge", f"fma_sim_kv_cache_tokens {self.p.kv_cache_tokens}"]
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")

    def app(self) -> web.Application:
        app = web.Application()
        app.add_routes([
            web.get("/health", self.health), web.get("/is_sleeping", self.is_sleeping),
            web.post("/sleep", self.sleep), web.post("/wake_up", self.wake_up),
            web.get("/v1/models", self.models), web.post("/v1/completions", self.completions),
            web.post("/v1/chat/completions", self.chat), web.get("/metrics", self.metrics),
        ])
        return app


def startup_error(exc: OutOfMemory, p: SimParams) -> str:
    """vLLM's start-up refusal when the GPU lacks the memory it wants to claim."""
    return (f"ValueError: Free memory on device cuda:0 ({exc.free / 2**30:.2f}/{exc.capacity / 2**30:.2f} GiB) "
            f"on startup is less than desired GPU memory utilization ({p.gpu_memory_utilization}, "
            f"{p.gpu_claim_bytes / 2**30:.2f} GiB). Decrease GPU memory utilization or reduce GPU memory "
            f"used by other processes.")


async def serve(cfg: SimConfig, stop: asyncio.Event | None = None, ready: Any = None) -> int:
    """Load (modelled time), open the port, serve until ``stop``; return an exit code."""
    server = SimServer(cfg)
    p = cfg.params
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    if cfg.faults.crash_after_s is not None:
        def crash() -> None:
            log.error("sim %s: simulated crash after %.3fs (modelled)", cfg.model, cfg.faults.crash_after_s)
            os._exit(1)
        loop.call_later(p.wall(cfg.faults.crash_after_s), crash)
    try:
        server.memory.start()
    except OutOfMemory as exc:
        log.error("%s", startup_error(exc, p))
        return 1
    try:
        log.info("sim %s: loading %d bytes, ready in %.3fs wall (%.3fs modelled)",
                 cfg.model, p.weight_bytes, p.wall(p.start_s()), p.start_s())
        await server.pause(p.start_s())
        runner = web.AppRunner(server.app(), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, cfg.host, cfg.port, reuse_address=True)
        await site.start()
        log.info("sim %s: serving on http://%s:%d", cfg.model, cfg.host, cfg.port)
        if ready is not None:
            ready(server)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()
    finally:
        server.memory.stop()
    return 0


def default_gpus(tp: int, uuids: Sequence[str] = ()) -> tuple[str, ...]:
    """GPU keys: given UUIDs, else CUDA_VISIBLE_DEVICES entries, else ``0..tp-1``."""
    if uuids:
        return tuple(uuids)
    cvd = os.environ.get("CUDA_VISIBLE_DEVICES", "").strip()
    if cvd:
        return tuple(x.strip() for x in cvd.split(",") if x.strip())
    return tuple(str(i) for i in range(tp))
