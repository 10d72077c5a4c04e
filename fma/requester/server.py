"""The requester stub's HTTP servers (CONTRACTS.md A4), on one aiohttp loop in a thread.

* admin port (8081): the SPI — accelerators, memory usage, become-ready/unready,
  set-log, proxy config;
* port 8080: ``/ready`` (200 only when bound and the provider serves) and ``/health``;
* proxy port (8082, beyond FMA): any other request is forwarded to the provider, once
  the controller (``become-ready`` with a target) or ``PUT /v1/proxy/config`` said where.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, TextIO

from aiohttp import ClientSession, ClientTimeout, ClientError, web

from fma.requester.gpus import memory_usage_mib

log = logging.getLogger(__name__)

_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
        "transfer-encoding", "upgrade", "host", "content-length"}


@dataclass
class RequesterState:
    gpus: tuple[str, ...] = ()
    mock: bool = True
    ready: bool = False
    proxy: dict[str, Any] | None = None
    log_text: str = ""
    log_out: TextIO | None = None
    name: str = "requester"
    lock: threading.Lock = field(default_factory=threading.Lock)

    def set_log(self, start: int, chunk: str) -> int:
        """Append the part of ``chunk`` (which starts at ``start``) that is new; returns length."""
        with self.lock:
            have = len(self.log_text)
            if start > have:
                raise ValueError(f"startPos {start} is past the end of the log ({have})")
            new = chunk[have - start:]
            self.log_text += new
        if new and self.log_out is not None:
            self.log_out.write(new)
            self.log_out.flush()
        return len(self.log_text)


def _err(status: int, detail: str) -> web.Response:
    return web.json_response({"detail": detail}, status=status)


def admin_app(state: RequesterState) -> web.Application:
    routes = web.RouteTableDef()

    @routes.get("/v1/dual-pods/accelerators")
    async def accelerators(_: web.Request) -> web.Response:
        if not state.gpus:
            return _err(500, f"{state.name}: no GPU found for this requester")
        return web.json_response(list(state.gpus))

    @routes.get("/v1/dual-pods/accelerator-memory-usage")
    async def memory(_: web.Request) -> web.Response:
        usage = await asyncio.to_thread(memory_usage_mib, state.gpus, state.mock)
        return web.json_response(usage)

    @routes.post("/v1/become-ready")
    async def become_ready(req: web.Request) -> web.Response:
        target = await _optional_json(req)
        if isinstance(target, dict) and target.get("address") and target.get("port"):
            with state.lock:
                if state.proxy is None:
                    state.proxy = {"address": str(target["address"]), "port": int(target["port"])}
        state.ready = True
        log.info("%s: ready (provider serves)", state.name)
        return web.json_response({"ready": True})

    @routes.post("/v1/become-unready")
    async def become_unready(_: web.Request) -> web.Response:
        state.ready = False
        log.info("%s: not ready (provider stopped serving)", state.name)
        return web.json_response({"ready": False})

    @routes.post("/v1/set-log")
    async def set_log(req: web.Request) -> web.Response:
        try:
            start = int(req.query.get("startPos", "0"))
            if start < 0:
                raise ValueError
        except ValueError:
            return _err(400, f"startPos must be a non-negative integer, got {req.query.get('startPos')!r}")
        chunk = await req.text()
        try:
            length = state.set_log(start, chunk)
        except ValueError as exc:
            return _err(400, str(exc))
        return web.json_response({"length": length})

    @routes.get("/v1/proxy/config")
    async def get_proxy(_: web.Request) -> web.Response:
        if state.proxy is None:
            return _err(404, "proxy target not set")
        return web.json_response(state.proxy)

    @routes.put("/v1/proxy/config")
    async def put_proxy(req: web.Request) -> web.Response:
        body = await _optional_json(req)
        if not isinstance(body, dict) or not isinstance(body.get("address"), str) or not body["address"]:
            return _err(422, "body must be {\"address\": string, \"port\": int}")
        port = body.get("port")
        if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
            return _err(422, f"port must be an integer 1..65535, got {port!r}")
        with state.lock:
            if state.proxy is not None:
                return _err(409, f"proxy target already set to {state.proxy['address']}:{state.proxy['port']}")
            state.proxy = {"address": body["address"], "port": port}
        return web.json_response(state.proxy)

    app = web.Application()
    app.add_routes(routes)
    return app


async def _optional_json(req: web.Request) -> Any:
    raw = await req.read()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def probe_app(state: RequesterState) -> web.Application:
    async def ready(_: web.Request) -> web.Response:
        return web.Response(status=200 if state.ready else 503, text="ready" if state.ready else "not ready")

    async def health(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/ready", ready)
    app.router.add_get("/health", health)
    return app


def proxy_app(state: RequesterState) -> web.Application:
    session: dict[str, ClientSession] = {}

    async def on_start(_: web.Application) -> None:
        session["s"] = ClientSession(timeout=ClientTimeout(total=None, sock_connect=10), trust_env=False,
                                     auto_decompress=False)

    async def on_stop(_: web.Application) -> None:
        await session["s"].close()

    async def forward(req: web.Request) -> web.StreamResponse:
        target = state.proxy
        if target is None or not state.ready:
            return _err(503, f"{state.name}: no serving provider yet")
        url = f"http://{target['address']}:{target['port']}{req.rel_url}"
        headers = {k: v for k, v in req.headers.items() if k.lower() not in _HOP}
        try:
            async with session["s"].request(req.method, url, headers=headers, data=await req.read()) as up:
                resp = web.StreamResponse(status=up.status, headers={
                    k: v for k, v in up.headers.items() if k.lower() not in _HOP})
                await resp.prepare(req)
                async for chunk in up.content.iter_any():
                    await resp.write(chunk)
                await resp.write_eof()
                return resp
        except ClientError as exc:
            return _err(502, f"{state.name}: provider {target['address']}:{target['port']} failed: {exc}")

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.on_startup.append(on_start)
    app.on_cleanup.append(on_stop)
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


class RequesterServer:
    """Runs the stub's servers on a private event loop thread; ports may be 0 (ephemeral)."""

    def __init__(self, state: RequesterState, host: str = "127.0.0.1", admin_port: int = 8081,
                 port: int = 8080, proxy_port: int | None = 8082) -> None:
        self.state = state
        self.host = host
        self._want = {"admin": admin_port, "probe": port, "proxy": proxy_port}
        self.ports: dict[str, int] = {}
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._runners: list[web.AppRunner] = []

    def start(self) -> "RequesterServer":
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            try:
                self._loop.run_until_complete(self._start())
            except BaseException as exc:  # report bind errors to the caller
                errors.append(exc)
                ready.set()
                return
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name=f"requester-{self.state.name}", daemon=True)
        self._thread.start()
        ready.wait(30)
        if errors:
            raise errors[0]
        return self

    async def _start(self) -> None:
        apps: dict[str, Callable[[RequesterState], web.Application]] = {
            "admin": admin_app, "probe": probe_app, "proxy": proxy_app}
        for key, factory in apps.items():
            port = self._want[key]
            if port is None:
                continue
            runner = web.AppRunner(factory(self.state), access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, self.host, port)
            await site.start()
            self._runners.append(runner)
            sock = site._server.sockets[0]  # type: ignore[union-attr]
            self.ports[key] = sock.getsockname()[1]

    def url(self, key: str = "admin") -> str:
        return f"http://{self.host}:{self.ports[key]}"

    def stop(self) -> None:
        if self._thread is None:
            return

        async def cleanup() -> None:
            for r in self._runners:
                await r.cleanup()

        asyncio.run_coroutine_threadsafe(cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
        self._thread = None

    def __enter__(self) -> "RequesterServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def default_log_out() -> TextIO:
    return sys.stdout
