"""Whether an InferenceServerConfig's routing metadata (``modelServerConfig.labels`` and
``.annotations``) can be put on a launcher pod: Kubernetes' syntax for keys and label
values, no key under the controllers' own prefixes, and no key the pod already carries
for another reason (a template label, say: overwriting it, and removing it at unbind,
would break whoever put it there). Pure; used at bind (a requester error) and when the
ISC changes under a bound launcher (event ``OutdatedRoutingMetadata``, requester deleted)."""

from __future__ import annotations

import re
from typing import Any, Mapping

from fma.controllers.dualpods import names as N
from fma.controllers.dualpods import pods as P

_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$")
_DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
RESERVED = (N.PREFIX, N.OURS)
OUTDATED_REASON = "OutdatedRoutingMetadata"
OUTDATED_MESSAGE = ("Deleting server-requesting Pod because bound launcher is committed to outdated ISC "
                    "routing metadata")


def key_problem(key: str) -> str | None:
    """Why ``key`` is not a qualified name (``[prefix/]name``), or None."""
    prefix, _, name = key.rpartition("/")
    if "/" in key and not prefix:
        return "prefix part must be non-empty"
    if prefix and (len(prefix) > 253 or not _DNS1123.match(prefix)):
        return "prefix part must be a DNS-1123 subdomain"
    if not name or len(name) > 63 or not _NAME.match(name):
        return ("name part must be 1-63 characters, alphanumeric, '-', '_' or '.', starting and "
                "ending with an alphanumeric character")
    return None


def problems(meta: Mapping[str, Mapping[str, str]], pod: Mapping[str, Any] | None = None,
             applied: Mapping[str, Mapping[str, str]] | None = None) -> list[str]:
    """What stops ``meta`` (``{"labels": {}, "annotations": {}}``) from going on ``pod``,
    whose keys in ``applied`` (the metadata recorded as applied before) are ours to replace."""
    out: list[str] = []
    for what, have_of in (("label", P.labels), ("annotation", P.annotations)):
        section = "labels" if what == "label" else "annotations"
        have = have_of(pod) if pod is not None else {}
        ours = set((applied or {}).get(section) or {})
        for key, value in sorted((meta.get(section) or {}).items()):
            bad = key_problem(key)
            if bad:
                out.append(f"ISC {what} key {key!r} is not a valid qualified name: {bad}")
            elif key.startswith(RESERVED):
                out.append(f"ISC {what} key {key!r} uses a reserved prefix")
            elif key in have and key not in ours:
                out.append(f"ISC {what} key {key!r} collides with the launcher pod's own {what}")
            if what == "label" and value and (len(value) > 63 or not _NAME.match(value)):
                out.append(f"ISC label value {value!r} for key {key!r} is not a valid label value")
    return out
