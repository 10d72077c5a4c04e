"""``fma local``: the whole system on one machine.

An API server emulator, simulated nodes with mock GPUs, a scheduler, a kubelet stand-in
that runs each pod's containers as local processes on their own 127.0.x.y pod IP, the
dual-pods controller, and a scenario engine that drives requesters and reports start
kinds (hot/warm/cold), times to Ready and GPU-seconds.
"""
