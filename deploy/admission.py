"""Evaluate the chart's ValidatingAdmissionPolicies offline with ``cel-python``.

The evaluator lives in :mod:`fma.kube.emulator.admission` (the API server emulator
enforces the same policies on every write); this module keeps the deploy tooling's name
for it.

    verdict = admit(policies_and_bindings, old_pod, new_pod, username="alice", namespace="fma")
    verdict.allowed, verdict.messages
"""

from __future__ import annotations

from fma.kube.emulator.admission import FUNCTIONS, Denial, Verdict, admit, selector_matches

__all__ = ["FUNCTIONS", "Denial", "Verdict", "admit", "selector_matches"]
