"""Messages between actors and the errors a caller can get back."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from fma.statemachines import IllegalCommand

#: ``reply(ok, body)``: how a remote caller gets its answer (set by the transport).
ReplyFn = Callable[[bool, Any], None]


@dataclass(frozen=True, slots=True)
class Msg:
    """One message to an actor: ``type`` (a lifecycle trigger or a custom name) and ``body``.

    ``reply`` is set for messages that came over the network (the actor calls it once);
    ``deadline`` (unix seconds) makes the actor skip a message whose asker gave up.
    """

    type: str
    body: Any = None
    reply: ReplyFn | None = None
    deadline: float | None = None
    sender: str = ""
    #: a tell: nobody waits for the outcome (errors are logged, not raised)
    tell: bool = False

    def expired(self, now: float | None = None) -> bool:
        return self.deadline is not None and (time.time() if now is None else now) > self.deadline


class ActorError(Exception):
    """Base of the errors raised to callers of actors (local or remote)."""


class AskTimeout(ActorError, TimeoutError):
    """No reply before the deadline (the message may still be handled)."""


class DeadlineExceeded(ActorError):
    """The message's deadline passed before the actor got to it; it was not handled."""


class NoSuchActor(ActorError, LookupError):
    """No actor or route is registered at this path."""


class UnknownMessage(ActorError, ValueError):
    """The actor has no handler for this message type."""


class ActorCrashed(ActorError):
    """The actor crashed while handling the message (part of it may have happened)."""


class ActorRestarting(ActorError):
    """The actor had crashed before the message; it was NOT handled (safe to retry)."""


class RemoteError(ActorError):
    """An error reply: ``code`` is the remote exception's class name (or a transport code)."""

    def __init__(self, code: str, message: str, body: Mapping[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.body = dict(body or {})


#: Errors that are answers, not crashes: the actor keeps running.
EXPECTED_ERRORS: tuple[type[BaseException], ...] = (
    IllegalCommand, UnknownMessage, DeadlineExceeded, ValueError, KeyError, TypeError, LookupError,
)


def error_body(exc: BaseException) -> dict[str, Any]:
    """The ``body`` of an error reply for ``exc``: ``{error, message}`` plus known details."""
    if isinstance(exc, RemoteError):
        return {**exc.body, "error": exc.code, "message": exc.message}
    body: dict[str, Any] = {"error": type(exc).__name__, "message": str(exc)}
    if isinstance(exc, IllegalCommand):
        body.update(machine=exc.machine, state=exc.state, trigger=exc.trigger)
    return body
