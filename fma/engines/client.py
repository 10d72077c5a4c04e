"""HTTP client for a vLLM server's API (real vLLM or ``fma sim-vllm`` — same surface).

Admin calls (``/sleep``, ``/wake_up``, ``/is_sleeping``) need the server to run with
``VLLM_SERVER_DEV_MODE=1``. Sleep and wake report what the server *says after the call*:
the caller should trust :meth:`ServerClient.is_sleeping`, never the 200 of the call.
"""

from __future__ import annotations

import functools
import ssl
import time
from dataclasses import dataclass
from typing import Any, Sequence

import httpx


class EngineError(RuntimeError):
    """A vLLM server call failed; ``status`` and ``body`` hold what the server said."""

    def __init__(self, message: str, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body

    @property
    def error_type(self) -> str | None:
        """vLLM's ``error.type`` (e.g. ``InternalServerError``) when the body has one."""
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            return self.body["error"].get("type")
        return None

    @property
    def is_oom(self) -> bool:
        """True when the server reported a (CUDA) out-of-memory error."""
        text = str(self.body) if self.body is not None else str(self)
        return "out of memory" in text.lower()


class NotReady(EngineError):
    """``wait_ready`` ran out of time (or the process died) before ``/health`` answered 200."""


@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: str | None
    raw: dict[str, Any]


@functools.lru_cache(maxsize=1)
def _tls() -> ssl.SSLContext:
    """One TLS context for every client: building one loads the CA bundle (~25 ms of CPU),
    which an ``httpx.Client()`` otherwise does on each construction."""
    return httpx.create_ssl_context()


class ServerClient:
    """Synchronous client for one server; cheap to create, close it (or use ``with``)."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, trust_env=False, verify=_tls())

    def __enter__(self) -> "ServerClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def __repr__(self) -> str:
        return f"ServerClient({self.base_url!r})"

    # -- plumbing ------------------------------------------------------------------------
    def _call(self, method: str, path: str, *, timeout: float | None = None, **kw: Any) -> httpx.Response:
        try:
            if timeout is not None:
                kw["timeout"] = timeout
            r = self._http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise EngineError(f"{method} {self.base_url}{path}: {exc.__class__.__name__}: {exc}") from exc
        if r.status_code >= 400:
            try:
                body: Any = r.json()
            except ValueError:
                body = r.text
            raise EngineError(f"{method} {self.base_url}{path} -> {r.status_code}: {body}", r.status_code, body)
        return r

    # -- health --------------------------------------------------------------------------
    def health(self, timeout: float = 5.0) -> bool:
        """True when ``GET /health`` answers 200; False on any error (incl. connection refused)."""
        try:
            return self._http.get("/health", timeout=timeout).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, timeout: float, interval: float = 0.05, alive: Any = None) -> float:
        """Poll ``/health`` until 200; return seconds waited. ``alive()`` False → stop early.

        Raises :class:`NotReady` on timeout or when ``alive`` says the process died.
        """
        start = time.monotonic()
        delay = interval
        while True:
            if self.health(timeout=min(5.0, max(0.5, timeout))):
                return time.monotonic() - start
            if alive is not None and not alive():
                raise NotReady(f"{self.base_url}: server process exited before it became healthy")
            waited = time.monotonic() - start
            if waited >= timeout:
                raise NotReady(f"{self.base_url}: not healthy after {waited:.1f}s")
            time.sleep(min(delay, max(0.0, timeout - waited)))
            delay = min(delay * 1.5, 1.0)

    # -- admin (VLLM_SERVER_DEV_MODE=1) ---------------------------------------------------
    def is_sleeping(self) -> bool:
        return bool(self._call("GET", "/is_sleeping").json()["is_sleeping"])

    def sleep(self, level: int = 1, timeout: float | None = 600.0) -> bool:
        """``POST /sleep?level=N``; returns what ``/is_sleeping`` says afterwards."""
        if level not in (1, 2):
            raise ValueError(f"sleep level must be 1 or 2, got {level}")
        self._call("POST", "/sleep", params={"level": level}, timeout=timeout)
        return self.is_sleeping()

    def wake(self, tags: Sequence[str] | None = None, timeout: float | None = 600.0) -> bool:
        """``POST /wake_up[?tags=...]``; returns True when ``/is_sleeping`` then says awake.

        Raises :class:`EngineError` (``is_oom`` True for an out-of-memory) on failure.
        """
        params = [("tags", t) for t in tags] if tags else None
        self._call("POST", "/wake_up", params=params, timeout=timeout)
        return not self.is_sleeping()

    # -- OpenAI surface ------------------------------------------------------------------
    def models(self) -> list[str]:
        return [m["id"] for m in self._call("GET", "/v1/models").json().get("data", [])]

    def completion(self, prompt: str, max_tokens: int = 16, seed: int | None = 0,
                   temperature: float = 0.0, model: str | None = None,
                   timeout: float | None = 120.0) -> Completion:
        """``POST /v1/completions`` (first model served when ``model`` is None)."""
        body: dict[str, Any] = {
            "model": model or self.models()[0],
            "prompt": prompt,
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        if seed is not None:
            body["seed"] = seed
        data = self._call("POST", "/v1/completions", json=body, timeout=timeout).json()
        choice = data["choices"][0]
        return Completion(text=choice.get("text", ""), finish_reason=choice.get("finish_reason"), raw=data)

    def metrics(self) -> str:
        return self._call("GET", "/metrics").text
