"""The FMA-compatible REST API (CONTRACTS.md A3) over a :class:`launcher.node.Node`.

Bodies are parsed by hand so that every error is ``{"detail": "<message>"}`` (FastAPI's
own validation errors are lists). Blocking node calls run in worker threads. The watch
stream lives at ``/v2/vllm/watch``; FMA's ``/v2/vllm/instances/watch`` keeps working, but
when an instance is named ``watch`` a plain GET of that path returns the instance (a
request with ``since`` is always the stream).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, AsyncIterator

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from launcher.ids import BadRequest, parse_create_body
from launcher.logs import RangeError, RangeNotSatisfiable, parse_range, read_slice
from launcher.node import Node
from launcher.watch import Gone

log = logging.getLogger(__name__)

CREATE_SCHEMA = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["options"], "additionalProperties": False,
        "properties": {
            "options": {"type": "string", "description": "vLLM command-line options"},
            "gpu_uuids": {"type": "array", "items": {"type": "string"}},
            "env_vars": {"type": "object", "additionalProperties": {"type": "string"}},
            "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
        }}}}}
}

ENDPOINTS = {
    "index": "GET /",
    "health": "GET /health",
    "metrics": "GET /metrics",
    "create_instance": "POST /v2/vllm/instances",
    "create_named_instance": "PUT /v2/vllm/instances/{instance_id}",
    "delete_instance": "DELETE /v2/vllm/instances/{instance_id}",
    "delete_all_instances": "DELETE /v2/vllm/instances",
    "get_instance_status": "GET /v2/vllm/instances/{instance_id}",
    "get_all_instances": "GET /v2/vllm/instances",
    "get_instance_logs": "GET /v2/vllm/instances/{instance_id}/log",
    "sleep_instance": "POST /v2/vllm/instances/{instance_id}/sleep",
    "wake_instance": "POST /v2/vllm/instances/{instance_id}/wake_up",
    "watch_instances": "GET /v2/vllm/watch",
    "watch_instances_fma_path": "GET /v2/vllm/instances/watch",
}


def _err(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


async def _call(fn: Any, *args: Any) -> Any:
    return await anyio.to_thread.run_sync(lambda: fn(*args))


async def _body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from None


def _bool(text: str | None, default: bool) -> bool:
    if text is None:
        return default
    low = text.lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise BadRequest(f"not a boolean: {text!r}")


def _int(text: str | None, name: str) -> int | None:
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise BadRequest(f"query parameter {name!r} must be an integer, got {text!r}") from None


def build_app(node: Node, metrics: Any = None) -> FastAPI:
    app = FastAPI(title="FMA launcher", version="2.0",
                  description=f"Multi-instance vLLM launcher of node {node.name} (FMA-compatible API).")

    @app.exception_handler(BadRequest)
    async def bad_request(_: Request, exc: BadRequest) -> JSONResponse:
        return _err(exc.status, str(exc))

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "OK"}

    @app.get("/")
    async def index() -> dict[str, Any]:
        return {"name": "FMA launcher", "node": node.name, "version": "2.0", "endpoints": ENDPOINTS}

    @app.get("/metrics")
    async def get_metrics() -> Response:
        if metrics is None:
            return _err(404, "metrics are not enabled")
        body, ctype = metrics.render()
        return Response(body, media_type=ctype)

    @app.post("/v2/vllm/instances", status_code=201, openapi_extra=CREATE_SCHEMA)
    async def create(request: Request) -> JSONResponse:
        req = parse_create_body(await _body(request))
        return JSONResponse(await _call(node.create, req), status_code=201)

    @app.get("/v2/vllm/instances")
    async def list_instances(request: Request) -> dict[str, Any]:
        detail = _bool(request.query_params.get("detail"), True)
        return node.list(detail)

    @app.delete("/v2/vllm/instances")
    async def delete_all() -> dict[str, Any]:
        return await _call(node.delete_all)

    async def _stream(request: Request, since: int | None) -> Response:
        if since is not None:
            try:
                node.watch.since(since)
            except Gone as exc:
                return _err(410, str(exc))
        with node.lock:
            initial = [] if since is not None else [{"type": "CREATED", "object": i.state_dict()}
                                                    for i in node.instances.values()]
            pos = node.revision if since is None else since

        async def lines() -> AsyncIterator[bytes]:
            nonlocal pos
            for ev in initial:
                yield (json.dumps(ev) + "\n").encode()
            while True:
                if await request.is_disconnected():
                    return
                try:
                    events = await anyio.to_thread.run_sync(lambda: node.watch.wait(pos, 0.5))
                except Gone:
                    return
                for ev in events:
                    pos = ev.revision
                    yield (json.dumps(ev.to_dict()) + "\n").encode()
                if node._closed:
                    return

        return StreamingResponse(lines(), media_type="application/x-ndjson",
                                 headers={"X-Content-Type-Options": "nosniff"})

    @app.get("/v2/vllm/watch")
    async def watch(request: Request) -> Response:
        return await _stream(request, _int(request.query_params.get("since"), "since"))

    @app.get("/v2/vllm/instances/watch")
    async def watch_fma_path(request: Request) -> Response:
        since = _int(request.query_params.get("since"), "since")
        if since is None and "watch" in node.instances:
            return JSONResponse(node.get("watch").state_dict())
        return await _stream(request, since)

    @app.put("/v2/vllm/instances/{instance_id}", status_code=201, openapi_extra=CREATE_SCHEMA)
    async def create_named(instance_id: str, request: Request) -> JSONResponse:
        req = parse_create_body(await _body(request))
        return JSONResponse(await _call(node.create, req, instance_id), status_code=201)

    @app.get("/v2/vllm/instances/{instance_id}")
    async def get_instance(instance_id: str) -> dict[str, Any]:
        return node.get(instance_id).state_dict()

    @app.delete("/v2/vllm/instances/{instance_id}")
    async def delete(instance_id: str) -> dict[str, Any]:
        node.get(instance_id)
        return await _call(node.delete, instance_id)

    @app.post("/v2/vllm/instances/{instance_id}/sleep")
    async def sleep(instance_id: str, request: Request) -> dict[str, Any]:
        level = _int(request.query_params.get("level"), "level") or 1
        node.get(instance_id)
        return await _call(node.sleep, instance_id, level)

    @app.post("/v2/vllm/instances/{instance_id}/wake_up")
    async def wake_up(instance_id: str) -> dict[str, Any]:
        node.get(instance_id)
        return await _call(node.wake, instance_id)

    @app.get("/v2/vllm/instances/{instance_id}/log")
    async def get_log(instance_id: str, request: Request) -> Response:
        inst = node.get(instance_id)
        header = request.headers.get("range")
        try:
            if header is None:
                sl = read_slice(inst.log_path)
            else:
                start, end = parse_range(header)
                sl = read_slice(inst.log_path, start, end, ranged=True)
        except RangeError as exc:
            return _err(400, str(exc))
        except RangeNotSatisfiable as exc:
            return Response(b"", status_code=416, media_type="application/octet-stream",
                            headers={"Content-Range": f"bytes */{exc.total}"})
        headers = {"Accept-Ranges": "bytes"}
        cr = sl.content_range()
        if cr:
            headers["Content-Range"] = cr
        return Response(sl.data, status_code=206 if header is not None else 200,
                        media_type="application/octet-stream", headers=headers)

    return app


def serve(app: FastAPI, host: str, port: int) -> Any:
    """A uvicorn server object (call ``.run()`` or run it in a thread)."""
    import uvicorn

    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
    return uvicorn.Server(config)


__all__ = ["build_app", "serve", "asyncio"]
