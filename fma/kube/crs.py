"""Our custom resources (group ``fma.llm-d.ai/v1alpha1``): get, list and status writes
for InferenceServerConfigs, LauncherConfigs and LauncherPopulationPolicies, as dicts."""

from __future__ import annotations

from typing import Any

from fma.kube.client import Rest

Obj = dict[str, Any]
ISC, LC, LPP = "inferenceserverconfigs", "launcherconfigs", "launcherpopulationpolicies"


def get_cr(rest: Rest, plural: str, namespace: str, name: str) -> Obj:
    return rest.get(plural, namespace, name)


def list_crs(rest: Rest, plural: str, namespace: str, label_selector: str = "") -> list[Obj]:
    return rest.list(plural, namespace, label_selector).get("items") or []


def patch_cr_status(rest: Rest, plural: str, namespace: str, name: str, errors: list[str] | None = None,
                    observed_generation: int | None = None, extra: Obj | None = None) -> Obj:
    """Merge-patch the ``status`` subresource: ``{observedGeneration, errors}`` (CONTRACTS A2);
    an empty ``errors`` list removes the field."""
    status: Obj = dict(extra or {})
    if observed_generation is not None:
        status["observedGeneration"] = observed_generation
    if errors is not None:
        status["errors"] = list(errors) or None
    return rest.patch(plural, namespace, name, {"status": status}, "merge", sub="status")
