"""Actors: live owners of pure lifecycles (pykka threads), with supervision.

No ZeroMQ here — :mod:`fma.transport` builds the network side on top of this package.

Public API
==========

``LifecycleActor(path, log, *, lifecycle=None, effects=None)`` — a ``pykka.ThreadingActor``
that owns ONE :class:`fma.statemachines.Lifecycle`. On start it rebuilds its machine by
folding its own records in ``log`` (so first start, supervisor restart and process restart
are the same code path). Every message is a :class:`Msg` ``(type, body)``:

* ``type`` a trigger of the lifecycle → ``machine.handle``; each emitted event is appended
  to the log FIRST (``log.append`` — the log's listeners, e.g. the PUB stream and the debug
  socket, see it there), then each effect goes to the effect handler; the reply is
  ``{"actor", "machine", "state", "seq"}``. An illegal trigger raises
  :class:`~fma.statemachines.IllegalCommand` to the asker and changes nothing.
* ``"$state"`` → :meth:`LifecycleActor.snapshot` ``{"actor", "machine", "state", "seq", "ctx"}``.
* anything else → :meth:`LifecycleActor.handle` (override it for custom messages; call
  ``super().handle`` for the defaults); unknown types raise :class:`UnknownMessage`.

Effects: ``effects(actor, effect)`` (an :data:`EffectHandler` injected at spawn) or a
method ``effect_<name>(self, data)`` on a subclass. Slow I/O in an effect should be handed
elsewhere; the outcome comes back as an observation: ``ref.tell("ready", {...})``.
Override :meth:`LifecycleActor.on_recover` to reconcile after a restart (an effect whose
event was logged may not have been carried out).

A handler that raises anything other than an *expected* error (``IllegalCommand``,
``UnknownMessage``, ``ValueError``, ``KeyError``, ``TypeError``) is a crash: the asker gets
:class:`ActorCrashed`, the supervisor stops the actor and starts a fresh one that folds its
records (no state is kept anywhere else). Messages that reach a crashed actor before the
restart are re-delivered to the new one (tells) or retried by :class:`PathRef` (asks).

``ActorSystem(log, *, effects=None)`` — a process's actors by path:

* ``spawn(actor_cls, path, **kwargs) -> PathRef`` (kwargs go to the constructor; ``log``,
  ``path``, ``effects`` and the supervisor are supplied);
* ``route(path, fn)`` — a plain function ``fn(type, body) -> reply`` addressable like an
  actor (no lifecycle, no supervision);
* ``get(path) -> PathRef`` (``NoSuchActor`` if unknown), ``paths()``, ``states()`` (the
  fold of the log, :class:`fma.events.fold.ActorState` rows — equal to
  ``fold_log(log.read())``), ``stop()`` (stops every actor it started).

``PathRef`` looks like a pykka ref but is resolved by path on every call, so it survives
restarts: ``ask(type, body=None, *, timeout=5.0)`` (raises :class:`AskTimeout`, the
handler's exception, or :class:`ActorCrashed`) and ``tell(type, body=None)``.

:class:`LogFeed` hands a log's records to one consumer in ``seq`` order with no gaps (the
log's listeners may run out of order on different threads); :class:`LiveFold` keeps the
fold of a log up to date record by record.
"""

from fma.actors.messages import (
    ActorCrashed,
    ActorError,
    ActorRestarting,
    AskTimeout,
    DeadlineExceeded,
    Msg,
    NoSuchActor,
    RemoteError,
    UnknownMessage,
    EXPECTED_ERRORS,
    error_body,
)
from fma.actors.base import EffectHandler, LifecycleActor
from fma.actors.feed import LiveFold, LogFeed
from fma.actors.supervisor import Supervisor
from fma.actors.refs import PathRef
from fma.actors.system import ActorSystem

__all__ = [
    "ActorCrashed", "ActorError", "ActorRestarting", "AskTimeout", "DeadlineExceeded", "Msg",
    "NoSuchActor", "RemoteError", "UnknownMessage", "EXPECTED_ERRORS", "error_body",
    "EffectHandler", "LifecycleActor", "LiveFold", "LogFeed", "Supervisor", "PathRef",
    "ActorSystem",
]
