"""Launcher-mode instance ids (CONTRACTS.md A1) and the launcher request built from an ISC.

id = "I" + base64url-unpadded(SHA-256(canonical YAML of modelServerConfig + ";gpus=" +
comma-joined GPU UUIDs)) + "i" — 45 characters, a valid label value. The canonical YAML
is block style with keys sorted at every level, so two ISCs that differ only in key order
give the same id. GPU UUIDs are sorted (BEHAVIOUR.md §3 rule 2: "the sorted GPU UUIDs").
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any, Mapping, Sequence

import yaml

ID_LENGTH = 45


def canonical_yaml(obj: Any) -> str:
    return yaml.safe_dump(obj, sort_keys=True, default_flow_style=False, allow_unicode=True)


def instance_id(model_server_config: Mapping[str, Any], gpus: Sequence[str]) -> str:
    text = canonical_yaml(dict(model_server_config)) + ";gpus=" + ",".join(sorted(gpus))
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "I" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii") + "i"


def config_digest(model_server_config: Mapping[str, Any]) -> str:
    """Digest of a modelServerConfig alone (to notice an ISC change)."""
    raw = json.dumps(model_server_config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def create_body(model_server_config: Mapping[str, Any], gpus: Sequence[str],
                annotations: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The launcher create body (CONTRACTS.md A3) for an ISC's modelServerConfig."""
    port = int(model_server_config["port"])
    options = str(model_server_config.get("options") or "").strip()
    if "--port" not in options.split():
        options = (options + f" --port {port}").strip()
    body: dict[str, Any] = {"options": options, "gpu_uuids": sorted(gpus)}
    env = model_server_config.get("env_vars")
    if env:
        body["env_vars"] = {str(k): str(v) for k, v in env.items()}
    if annotations:
        body["annotations"] = {str(k): str(v) for k, v in annotations.items()}
    return body
