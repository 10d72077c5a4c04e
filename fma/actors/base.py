"""The actor that owns one lifecycle: log first, then effects, then the reply."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Mapping

import pykka

from fma.events import EventLog, Record
from fma.statemachines import Effect, Lifecycle, rebuild
from fma.actors.messages import (
    EXPECTED_ERRORS,
    ActorCrashed,
    ActorRestarting,
    DeadlineExceeded,
    Msg,
    UnknownMessage,
    error_body,
)

if TYPE_CHECKING:
    from fma.actors.supervisor import Supervisor

log = logging.getLogger(__name__)

#: ``effects(actor, effect)``: carries out one effect of a step, on the actor's thread.
EffectHandler = Callable[["LifecycleActor", Effect], None]


class LifecycleActor(pykka.ThreadingActor):
    """Owns one lifecycle machine; only this actor changes it (see :mod:`fma.actors`)."""

    #: the lifecycle class; subclasses set it, or pass ``lifecycle=`` to the constructor
    lifecycle: ClassVar[type[Lifecycle] | None] = None

    def __init__(
        self,
        path: str,
        log: EventLog,
        *,
        lifecycle: type[Lifecycle] | None = None,
        effects: EffectHandler | None = None,
        supervisor: "Supervisor | None" = None,
        generation: int = 0,
    ) -> None:
        super().__init__()
        cls = lifecycle or type(self).lifecycle
        if cls is None:
            raise TypeError(f"actor {path}: no lifecycle class (set {type(self).__name__}.lifecycle)")
        self.path = path
        self.log = log
        self.lifecycle_cls = cls
        self.effects = effects
        self.generation = generation
        self._supervisor = supervisor
        self._crashed: BaseException | None = None
        records = list(log.read(actor=path))
        # Fold our own records: the first start, a supervisor restart and a process
        # restart over a FileLog are all this one code path.
        self.machine: Lifecycle = rebuild(cls, records)
        self.last_seq = records[-1].seq if records else 0
        self.recovered = bool(records)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path})"

    # --- pykka hooks ------------------------------------------------------------------
    def on_start(self) -> None:
        if self.recovered:
            log.info("actor %s: recovered in state %s at seq %d (generation %d)",
                     self.path, self.machine.state.value, self.last_seq, self.generation)
            self.on_recover()

    def on_recover(self) -> None:
        """Called after a start that found records; reconcile with the world here."""

    def on_receive(self, message: Any) -> Any:
        if not isinstance(message, Msg):
            raise UnknownMessage(f"actor {self.path}: expected Msg, got {type(message).__name__}")
        if self._crashed is not None:
            return self._after_crash(message)
        if message.expired():
            exc = DeadlineExceeded(f"actor {self.path}: {message.type!r} arrived after its deadline")
            return self._fail(message, exc)
        try:
            result = self.handle(message.type, message.body)
        except EXPECTED_ERRORS as exc:
            return self._fail(message, exc)
        except Exception as exc:  # a crash: reply, then let the supervisor restart us
            log.exception("actor %s crashed handling %r", self.path, message.type)
            self._crashed = exc
            if self._supervisor is not None:
                self._supervisor.crashed(self.path, self.generation, exc)
            crash = ActorCrashed(f"actor {self.path} crashed handling {message.type!r}: {exc!r}")
            return self._fail(message, crash)
        if message.reply is not None:
            message.reply(True, result)
        return result

    def _fail(self, message: Msg, exc: BaseException) -> None:
        if message.reply is not None:
            message.reply(False, error_body(exc))
            return None
        if message.tell:
            log.warning("actor %s: tell %r failed: %s", self.path, message.type, exc)
            return None
        raise exc

    def _after_crash(self, message: Msg) -> Any:
        """A message queued behind the crash: hand it to the next generation."""
        if (message.reply is not None or message.tell) and self._supervisor is not None:
            self._supervisor.redeliver(self.path, message)
            return None
        raise ActorRestarting(f"actor {self.path} is restarting after {self._crashed!r}")

    # --- behaviour (override handle for custom messages) ---------------------------------
    def handle(self, type: str, body: Any) -> Any:
        """Answer one message; default: ``$state`` or a lifecycle trigger."""
        if type == "$state":
            return self.snapshot()
        if type in self.lifecycle_cls.triggers():
            if body is not None and not isinstance(body, Mapping):
                raise TypeError(f"actor {self.path}: body of {type!r} must be a map, got {body!r}")
            self.transition(type, body)
            return self.summary()
        raise UnknownMessage(f"actor {self.path} ({self.lifecycle_cls.name}): unknown message type {type!r}")

    def transition(self, trigger: str, data: Mapping[str, Any] | None = None) -> list[Record]:
        """Run the machine; append each event to the log, THEN carry out the effects."""
        step = self.machine.handle(trigger, data)
        records = []
        for ev in step.events:
            rec = self.log.append(self.path, self.lifecycle_cls.name, ev.name, ev.src, ev.dst, ev.data)
            self.last_seq = rec.seq
            records.append(rec)
        for effect in step.effects:
            self.run_effect(effect)
        return records

    def run_effect(self, effect: Effect) -> None:
        method = getattr(self, f"effect_{effect.name}", None)
        if method is not None:
            method(dict(effect.data))
        elif self.effects is not None:
            self.effects(self, effect)
        else:
            log.debug("actor %s: no handler for effect %s", self.path, effect.name)

    @property
    def state(self) -> str:
        return str(self.machine.state.value)

    def summary(self) -> dict[str, Any]:
        return {"actor": self.path, "machine": self.lifecycle_cls.name, "state": self.state,
                "seq": self.last_seq}

    def snapshot(self) -> dict[str, Any]:
        return {**self.summary(), "ctx": dict(self.machine.ctx)}
