"""What a decision asks the outside world to do. Plain frozen data; :mod:`executor` does it.

Effects of one decision run in order and the rest are skipped when one fails (the
next reconcile re-reads the world and decides again: level-based).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

Json = Mapping[str, Any]


@dataclass(frozen=True)
class PatchMeta:
    """Change a pod's labels/annotations (value None = remove) and finalizers.

    ``expect`` maps annotation key -> value the pod must hold now (None: absent); the
    patch is refused (a JSON-patch ``test``) when it does not, so two writers cannot both
    bind the same pod.
    """

    pod: str
    labels: Mapping[str, str | None] = field(default_factory=dict)
    annotations: Mapping[str, str | None] = field(default_factory=dict)
    add_finalizers: tuple[str, ...] = ()
    remove_finalizers: tuple[str, ...] = ()
    expect: Mapping[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class CreatePod:
    pod: Json
    for_requester: str = ""


@dataclass(frozen=True)
class DeletePod:
    pod: str
    reason: str = ""


@dataclass(frozen=True)
class RecordEvent:
    """A Kubernetes Event on a pod (``type_`` Normal or Warning)."""

    pod: str
    reason: str
    message: str
    type_: str = "Normal"


@dataclass(frozen=True)
class SetStatus:
    """Write the requester's `status` annotation ``{"Errors": [...]}`` (empty: remove it)."""

    requester: str
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class QueryAccelerators:
    """Ask the requester stub for its GPUs (SPI) and record them in its `accelerators`."""

    requester: str
    url: str


@dataclass(frozen=True)
class CheckAcceleratorMemory:
    """Before a wake: ask the requester stub (SPI ``accelerator-memory-usage``) how much
    memory its GPUs hold and fail (retry later) while any holds more than ``limit_mib``,
    the most its sleepers may hold (``fma controller --debug-accelerator-memory``)."""

    requester: str
    url: str
    gpus: tuple[str, ...]
    limit_mib: int


@dataclass(frozen=True)
class WakeProvider:
    """Wake a sleeping provider's server and, confirmed by `/is_sleeping`, label it awake."""

    provider: str
    url: str


@dataclass(frozen=True)
class SleepAndRelease:
    """Sleep the provider, confirm with `/is_sleeping`, unbind it, label it asleep, then
    drop the requester's finalizer. If the server cannot sleep, delete the provider."""

    provider: str
    url: str
    requester: str = ""  # "" when the requester is already gone


@dataclass(frozen=True)
class BecomeReady:
    requester: str
    url: str
    provider: str
    target: str = ""  # "host:port" of the serving provider (for the stub's proxy)


@dataclass(frozen=True)
class BecomeUnready:
    requester: str
    url: str
    provider: str


# ---- launcher mode --------------------------------------------------------------------
@dataclass(frozen=True)
class CreateInstance:
    launcher: str
    url: str  # launcher REST base URL
    instance_id: str
    body: Json


@dataclass(frozen=True)
class DeleteInstance:
    launcher: str
    url: str
    instance_id: str
    reason: str = ""


@dataclass(frozen=True)
class WakeInstance:
    """Wake a sleeping instance through its launcher (``POST …/<id>/wake_up``), so the
    launcher's GPU ledger admits it first; without ``launcher_url``, the instance's own
    ``/wake_up``."""

    launcher: str
    instance_id: str
    url: str  # the instance's vLLM base URL
    launcher_url: str = ""


@dataclass(frozen=True)
class SleepInstance:
    """Sleep an instance through its launcher (``POST …/<id>/sleep?level=1``, so the
    launcher's GPU ledger frees its bytes), confirm, then unbind its launcher (``unbind``
    patch) and drop the requester's finalizer; when it cannot sleep, delete the instance."""

    launcher: str
    launcher_url: str
    instance_id: str
    url: str
    unbind: PatchMeta
    requester: str = ""


Effect = (PatchMeta | CreatePod | DeletePod | SetStatus | QueryAccelerators | WakeProvider
          | SleepAndRelease | BecomeReady | BecomeUnready | CreateInstance | DeleteInstance
          | WakeInstance | SleepInstance)


def describe(effect: Any) -> dict[str, Any]:
    """A small JSON-able summary of an effect (for events and logs)."""
    out: dict[str, Any] = {"effect": type(effect).__name__}
    for key in ("pod", "requester", "provider", "launcher", "instance_id", "reason"):
        val = getattr(effect, key, None)
        if isinstance(val, str) and val:
            out[key] = val
    if isinstance(effect, CreatePod):
        out["generateName"] = (effect.pod.get("metadata") or {}).get("generateName", "")
    if isinstance(effect, SetStatus):
        out["errors"] = list(effect.errors)
    return out
