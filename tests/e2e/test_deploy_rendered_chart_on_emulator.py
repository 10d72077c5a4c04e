"""End to end: the rendered chart applied to the API emulator (`fma local --serve`), the
controllers started from the rendered Deployment commands, and the direct-mode example
requester reaching Ready.

Not written yet: it needs `fma local --serve` (an API server emulator reachable with a
kubeconfig) and `fma controller`, which did not exist when the deploy work was done.
What it will do, once they exist:
  1. `fma install --render -n fma --create-namespace` → apply every object to the emulator
     (CRDs first); the apply must succeed (the emulator checks the CRD schemas).
  2. Take the `command` + `args` of both rendered Deployments, point them at the emulator
     (`--kubeconfig`) and start them as subprocesses.
  3. Apply deploy/examples/direct-mode/requester-replicaset.yaml; the requester must
     become Ready (bound to a provider the controller made) within a time limit.
"""

from __future__ import annotations

import importlib.util

import pytest


def _missing() -> str | None:
    for module, what in (("fma.cli.local", "`fma local`"), ("fma.cli.controller", "`fma controller`")):
        if importlib.util.find_spec(module) is None:
            return f"{what} ({module}) is not available yet"
    return "the emulator end-to-end test is not written yet"


@pytest.mark.slow
@pytest.mark.skip(reason=_missing() or "")
def test_rendered_chart_on_emulator_brings_direct_mode_requester_to_ready() -> None:
    raise NotImplementedError
