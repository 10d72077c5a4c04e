"""End to end: the rendered chart applied to the API emulator (`fma local --serve`), the
controllers started from the rendered Deployment commands, and the direct-mode example
requester reaching Ready.

Not written yet: it needs `fma local --serve --no-controller --kubeconfig-out PATH` backed by
the API server emulator (fma.kube.emulator), which did not exist when the deploy work was
done (`fma local` and `fma controller` did; the rendered controller argv is already checked
against the CLI by tests/unit/test_chart_render.py).
What it will do, once they exist:
  1. `fma install --render -n fma --create-namespace` → apply every object to the emulator
     (CRDs first); the apply must succeed (the emulator checks the CRD schemas).
  2. Take the `command` + `args` of both rendered Deployments, point them at the emulator
     (`--kubeconfig`) and start them as subprocesses.
  3. Apply deploy/examples/direct-mode/requester-replicaset.yaml with the server-patch's
     container swapped for `fma sim-vllm` (no GPU, no model download here); the requester
     must become Ready (bound to a provider the controller made) within a time limit.
"""

from __future__ import annotations

import importlib.util

import pytest


def _missing() -> str | None:
    for module, what in (("fma.kube.emulator", "the API server emulator"), ("fma.cli.local", "`fma local`"),
                         ("fma.cli.controller", "`fma controller`")):
        if importlib.util.find_spec(module) is None:
            return f"{what} ({module}) is not available yet"
    return "the emulator end-to-end test is not written yet"


@pytest.mark.slow
@pytest.mark.skip(reason=_missing() or "")
def test_rendered_chart_on_emulator_brings_direct_mode_requester_to_ready() -> None:
    raise NotImplementedError
