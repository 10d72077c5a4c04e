"""Instance ids, request bodies and the FMA instance-state shape (CONTRACTS.md A3)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Mapping

# Kubernetes label-value syntax (the controller's ids are 45 such characters), at most 63.
_ID_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$")
_ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class BadRequest(ValueError):
    """A request the launcher refuses; ``status`` is the HTTP code, the message says why."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


class NotFound(BadRequest):
    def __init__(self, instance_id: str) -> None:
        super().__init__(f"Instance {instance_id} not found", 404)


class Conflict(BadRequest):
    def __init__(self, message: str) -> None:
        super().__init__(message, 409)


def new_instance_id() -> str:
    return str(uuid.uuid4())


def check_instance_id(instance_id: str) -> str:
    if not isinstance(instance_id, str) or not _ID_RE.match(instance_id):
        raise BadRequest(
            f"instance id {instance_id!r} is not valid: use 1-63 letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )
    return instance_id


@dataclass(frozen=True)
class CreateRequest:
    """The body of create: ``{options, gpu_uuids?, env_vars?, annotations?}``."""

    options: str
    gpu_uuids: tuple[str, ...] | None = None
    env_vars: Mapping[str, str] | None = None
    annotations: Mapping[str, str] | None = None

    def fields(self) -> dict[str, Any]:
        """The request's keys as FMA echoes them in the state (absent ones omitted)."""
        out: dict[str, Any] = {"options": self.options}
        if self.gpu_uuids is not None:
            out["gpu_uuids"] = list(self.gpu_uuids)
        if self.env_vars is not None:
            out["env_vars"] = dict(self.env_vars)
        if self.annotations is not None:
            out["annotations"] = dict(self.annotations)
        return out


def _str_map(body: Mapping[str, Any], key: str) -> dict[str, str] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise BadRequest(f"{key!r} must be an object of string values")
    return dict(value)


def parse_create_body(body: Any) -> CreateRequest:
    """Validate a decoded JSON body; :class:`BadRequest` (422) names the bad field."""
    if not isinstance(body, Mapping):
        raise BadRequest(f"body must be a JSON object, got {type(body).__name__}")
    unknown = set(body) - {"options", "gpu_uuids", "env_vars", "annotations"}
    if unknown:
        raise BadRequest(f"unknown field(s) in body: {', '.join(sorted(unknown))}")
    options = body.get("options")
    if not isinstance(options, str) or not options.strip():
        raise BadRequest("'options' is required and must be a non-empty string of vLLM arguments")
    gpus = body.get("gpu_uuids")
    if gpus is not None:
        if not isinstance(gpus, list) or not all(isinstance(g, str) and g for g in gpus):
            raise BadRequest("'gpu_uuids' must be a list of GPU UUID strings")
        if len(set(gpus)) != len(gpus):
            raise BadRequest(f"'gpu_uuids' lists a GPU twice: {gpus}")
    env = _str_map(body, "env_vars")
    for name in env or {}:
        if not _ENV_RE.match(name):
            raise BadRequest(f"env_vars: {name!r} is not a valid environment variable name")
    return CreateRequest(
        options=options,
        gpu_uuids=tuple(gpus) if gpus is not None else None,
        env_vars=env,
        annotations=_str_map(body, "annotations"),
    )


@dataclass
class WatchEvent:
    revision: int
    type: str  # CREATED | STOPPED | DELETED
    object: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "object": self.object}
