"""The result of deciding about one object: what kind of step, why, and the effects."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from fma.controllers.dualpods import effects as E
from fma.controllers.dualpods import names as N
from fma.controllers.dualpods import pods as P

# The start kinds of BEHAVIOUR.md §3 rule 3 (and §2's hot/cold), plus the other steps.
START_KINDS = ("hot", "warm", "evict", "wait", "cold")
KINDS = START_KINDS + (
    "serving",   # bound; provider awake and ready; requester told
    "wake",      # bound to a sleeper: waking it
    "starting",  # bound; provider/instance not ready yet
    "fixup",     # bound; finalizers/labels being completed
    "unbind",    # requester leaving: provider being put to sleep (or deleted)
    "release",   # requester leaving: nothing left to do but drop its finalizer
    "lost",      # provider gone behind our back: requester deleted
    "error",     # requester's patch/ISC unusable: status annotation written
    "query",     # asking the requester stub for its GPUs
    "cleanup",   # provider-side housekeeping (finalizers, orphans, obsolete instances)
    "evict-sleeper",  # sleeper limit / byte budget: LRU sleeper deleted
    "idle",      # nothing to do
)


@dataclass(frozen=True)
class Decision:
    subject: str  # pod name (requester, provider or launcher) or "node/<name>"
    kind: str
    reason: str
    effects: tuple[Any, ...] = ()
    mode: str = "direct"
    target: str = ""  # the provider/launcher chosen, when there is one

    def summary(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "kind": self.kind,
            "reason": self.reason,
            "mode": self.mode,
            "target": self.target,
            "effects": [E.describe(e) for e in self.effects],
        }


def idle(subject: str, reason: str, mode: str = "direct") -> Decision:
    return Decision(subject, "idle", reason, (), mode)


def spi_url(requester: Mapping[str, Any]) -> str:
    return f"http://{P.pod_ip(requester)}:{P.admin_port(requester)}"


def server_url(provider: Mapping[str, Any], port: int | None = None) -> str:
    return f"http://{P.pod_ip(provider)}:{port or P.server_port(provider)}"


def status_errors(requester: Mapping[str, Any]) -> list[str]:
    raw = P.annotations(requester).get(N.ANN_STATUS)
    if not raw:
        return []
    try:
        doc = json.loads(raw)
    except ValueError:
        return ["<unreadable status>"]
    errs = doc.get("Errors") if isinstance(doc, dict) else None
    return [str(e) for e in errs] if isinstance(errs, list) else []


def status_effects(requester: Mapping[str, Any], errors: list[str]) -> tuple[Any, ...]:
    """A SetStatus when the annotation differs from ``errors`` (empty clears it)."""
    if status_errors(requester) == errors:
        return ()
    return (E.SetStatus(P.name(requester), tuple(errors)),)


def error(requester: Mapping[str, Any], errors: list[str], mode: str) -> Decision:
    return Decision(P.name(requester), "error", "; ".join(errors),
                    status_effects(requester, errors), mode)
