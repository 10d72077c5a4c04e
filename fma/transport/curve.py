"""Optional CURVE encryption and client authentication, with keys from files."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator


@dataclass(frozen=True)
class CurveServer:
    """The server's secret key file; with ``authorized_dir``, only clients whose public key
    file is in that directory may connect (otherwise any client that knows our public key)."""

    secret_file: str
    authorized_dir: str | None = None


@dataclass(frozen=True)
class CurveClient:
    secret_file: str
    server_public_file: str


def make_keypair(directory: str | Path, name: str) -> tuple[str, str]:
    """Write ``name.key`` (public) and ``name.key_secret``; returns their paths."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    public, secret = zmq.auth.create_certificates(str(d), name)
    return str(public), str(secret)


def _load(path: str, want_secret: bool) -> tuple[bytes, bytes | None]:
    try:
        public, secret = zmq.auth.load_certificate(path)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read CURVE key file {path}: {exc}") from None
    if want_secret and secret is None:
        raise ValueError(f"CURVE key file {path} holds no secret key")
    return public, secret


_auth_lock = threading.Lock()
_authenticators: dict[int, ThreadAuthenticator] = {}


def server_context(cfg: CurveServer | None) -> zmq.Context | None:
    """A context of its own for an authenticating server (ZAP is per context), else None."""
    if cfg is None or cfg.authorized_dir is None:
        return None
    ctx = zmq.Context()
    auth = ThreadAuthenticator(ctx)
    auth.start()
    auth.configure_curve(domain="*", location=cfg.authorized_dir)
    with _auth_lock:
        _authenticators[id(ctx)] = auth
    return ctx


def release_context(ctx: zmq.Context | None) -> None:
    if ctx is None:
        return
    with _auth_lock:
        auth = _authenticators.pop(id(ctx), None)
    if auth is not None:
        auth.stop()
    ctx.term()


def apply_server(sock: zmq.Socket, cfg: CurveServer | None) -> None:
    if cfg is None:
        return
    public, secret = _load(cfg.secret_file, True)
    sock.curve_secretkey = secret
    sock.curve_publickey = public
    sock.curve_server = True


def apply_client(sock: zmq.Socket, cfg: CurveClient | None) -> None:
    if cfg is None:
        return
    public, secret = _load(cfg.secret_file, True)
    server_public, _ = _load(cfg.server_public_file, False)
    sock.curve_publickey = public
    sock.curve_secretkey = secret
    sock.curve_serverkey = server_public
