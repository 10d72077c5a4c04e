"""HTTP front of the emulator: a threaded HTTP/1.1 server speaking the Kubernetes REST
dialect (JSON bodies, ``Status`` errors, chunked watch streams, Table output for kubectl)."""

from __future__ import annotations

import json
import logging
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fma.kube.emulator import discovery, errors, protobuf, rbac
from fma.kube.emulator.admission import UserInfo, user_from_headers
from fma.kube.emulator.api import Api
from fma.kube.emulator.errors import ApiError

log = logging.getLogger(__name__)
Obj = dict[str, Any]


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr: tuple[str, int], api: Api) -> None:
        super().__init__(addr, Handler)
        self.api = api


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # header and body are separate writes: avoid the 40 ms delayed-ACK stall
    server: Server

    def log_message(self, fmt: str, *args: Any) -> None:  # quiet; debug level only
        log.debug("%s " + fmt, self.address_string(), *args)

    # ------------------------------------------------------------------ plumbing
    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            return self.rfile.read(n)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        return b""

    def _send(self, code: int, obj: Any, warnings: list[str] | None = None) -> None:
        data = json.dumps(obj, separators=(",", ":")).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache, private")
        for w in warnings or []:
            self.send_header("Warning", f'299 - "{w}"')
        self.end_headers()
        self.wfile.write(data)

    def _error(self, exc: ApiError) -> None:
        self._send(exc.code, exc.status())

    def _user(self) -> UserInfo:
        return user_from_headers(self.headers.get("Impersonate-User"), self.headers.get_all("Impersonate-Group"),
                                 self.headers.get("Authorization"))

    def _wants_table(self) -> bool:
        return "as=Table" in (self.headers.get("Accept") or "")

    def _decode(self, raw: bytes) -> Any:
        if not raw:
            return None
        if protobuf.is_protobuf(self.headers.get("Content-Type")):
            return protobuf.decode(raw)
        try:
            return json.loads(raw)
        except ValueError:
            import yaml
            try:
                return yaml.safe_load(raw)
            except yaml.YAMLError as exc:
                raise errors.bad_request(f"error decoding body: {exc}") from None

    # ------------------------------------------------------------------ verbs
    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        api = self.server.api
        url = urlsplit(self.path)
        q = dict(parse_qsl(url.query, keep_blank_values=True))
        raw = self._body()
        try:
            if method == "GET" and self._discovery(url.path):
                return
            t = api.route(url.path)
            if t is None:
                raise ApiError(404, "the server could not find the requested resource", "NotFound")
            r = t.resource
            watching = method == "GET" and (q.get("watch") in ("1", "true") or "/watch/" in url.path)
            api.authorizer.check(api.store, self._user(), rbac.request_verb(method, bool(t.name), watching), r.group,
                                 f"{r.plural}/{t.sub}" if t.sub else r.plural, t.namespace or "", t.name or "")
            if watching:
                self._stream(api.watch(t, q), t)
            elif method == "GET":
                obj = api.get(t) if t.name else api.list(t, q)
                if self._wants_table():
                    items = [obj] if t.name else obj["items"]
                    obj = discovery.table(r, items, obj["metadata"].get("resourceVersion"))
                self._send(200, obj)
            elif method == "POST":
                if t.name and t.sub != "binding":
                    raise ApiError(405, "the server does not allow this method on the requested resource",
                                   "MethodNotAllowed")
                out, warns = api.create(t, self._decode(raw), q, self._user())
                self._send(201, out, warns)
            elif method == "PUT" and t.name:
                out, warns = api.update(t, self._decode(raw), q, self._user())
                self._send(200, out, warns)
            elif method == "PATCH" and t.name:
                out, warns = api.patch(t, raw, self.headers.get("Content-Type") or "", q, self._user())
                self._send(200, out, warns)
            elif method == "DELETE":
                body = self._decode(raw)
                user = self._user()
                out = api.delete(t, body, q, user) if t.name else api.delete_collection(t, body, q, user)
                self._send(200, out)
            else:
                raise ApiError(405, "the server does not allow this method on the requested resource",
                               "MethodNotAllowed")
        except ApiError as exc:
            self._error(exc)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            self.close_connection = True
        except Exception as exc:  # noqa: BLE001 - answer 500 like a server, log the bug
            log.exception("%s %s failed", method, self.path)
            self._error(ApiError(500, f"internal error: {type(exc).__name__}: {exc}", "InternalError"))

    def _discovery(self, path: str) -> bool:
        api = self.server.api
        path = path.rstrip("/") or "/"
        res = api.registry.all()
        doc: Any = None
        if path == "/version":
            doc = discovery.VERSION
        elif path == "/api":
            doc = discovery.api_versions(f"{self.server.server_address[0]}:{self.server.server_address[1]}")
        elif path == "/apis":
            doc = discovery.api_groups(res)
        elif path == "/debug/fma/access":  # the emulator's own: what service accounts asked for (rbac.py)
            doc = {"mode": api.authorizer.mode, "requests": api.authorizer.record()}
        elif path in ("/healthz", "/livez", "/readyz"):
            data = b"ok"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return True
        elif path == "/api/v1":
            doc = discovery.resource_list("", "v1", res)
        else:
            parts = path.split("/")[1:]
            if len(parts) == 2 and parts[0] == "apis":
                doc = discovery.api_group(parts[1], res)
                if doc is None:
                    raise ApiError(404, "the server could not find the requested resource", "NotFound")
            elif len(parts) == 3 and parts[0] == "apis":
                doc = discovery.resource_list(parts[1], parts[2], res)
                if not doc["resources"]:
                    raise ApiError(404, "the server could not find the requested resource", "NotFound")
            elif parts[:2] == ["openapi", "v3"] and len(parts) == 2:
                doc = discovery.openapi_v3_root(res)
            elif parts[:2] == ["openapi", "v3"] and len(parts) in (4, 5):
                gv = parts[3:] if parts[2] == "apis" else ["", parts[3]]
                doc = discovery.openapi_v3_gv(gv[0], gv[1], res)
                if doc is None:
                    raise ApiError(404, "the server could not find the requested resource", "NotFound")
            elif parts and parts[0] in ("openapi", "swagger.json"):
                raise ApiError(404, "the server could not find the requested resource", "NotFound")
        if doc is None:
            return False
        self._send(200, doc)
        return True

    def _stream(self, events: Any, t: Any) -> None:
        table = self._wants_table()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        # The connection ends with the stream; say so, or a client's pool reuses a closed
        # socket for its next request and logs a retry each time.
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.flush()
        first = True
        try:
            for ev in events:
                if table and ev["type"] in ("ADDED", "MODIFIED", "DELETED"):
                    obj = ev["object"]
                    ev = {"type": ev["type"], "object": discovery.table(
                        t.resource, [obj], obj["metadata"].get("resourceVersion"), headers=first)}
                    first = False
                line = json.dumps(ev, separators=(",", ":")).encode() + b"\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass
        self.close_connection = True

