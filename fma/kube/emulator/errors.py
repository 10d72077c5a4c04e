"""API errors rendered as ``meta/v1 Status`` objects, worded like the real API server."""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]
REASONS = {400: "BadRequest", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed", 406: "NotAcceptable",
           409: "Conflict", 410: "Expired", 415: "UnsupportedMediaType", 422: "Invalid", 500: "InternalError"}


class ApiError(Exception):
    def __init__(self, code: int, message: str, reason: str | None = None, details: Obj | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or REASONS.get(code, "Unknown")
        self.details = details

    def status(self) -> Obj:
        out: Obj = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": self.message, "reason": self.reason, "code": self.code}
        if self.details:
            out["details"] = self.details
        return out


def not_found(group_resource: str, name: str) -> ApiError:
    return ApiError(404, f'{group_resource} "{name}" not found', "NotFound",
                    {"name": name, "kind": group_resource.split(".")[0]})


def already_exists(group_resource: str, name: str) -> ApiError:
    return ApiError(409, f'{group_resource} "{name}" already exists', "AlreadyExists",
                    {"name": name, "kind": group_resource.split(".")[0]})


def conflict(group_resource: str, name: str) -> ApiError:
    return ApiError(409, f'Operation cannot be fulfilled on {group_resource} "{name}": the object has been modified; '
                    "please apply your changes to the latest version and try again", "Conflict",
                    {"name": name, "kind": group_resource.split(".")[0]})


def bad_request(message: str) -> ApiError:
    return ApiError(400, message, "BadRequest")
