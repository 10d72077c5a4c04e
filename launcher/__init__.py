"""The per-node launcher: an FMA-compatible REST API (and a ZMQ endpoint) that starts,
sleeps, wakes and stops vLLM instances from a preloaded fork server.

Layers (each imports only the ones above it):

* ``ids``, ``procs``, ``budget``, ``nodelifecycle`` — pure helpers and the launcher's own lifecycle;
* ``zygote`` (the fork server process) and ``spawner`` (its client, plus a cold spawner);
* ``instance`` (one InstanceActor per instance) and ``node`` (the LauncherActor: GPUs,
  byte budget, instances, watch revisions, recovery);
* ``rest``, ``zmqapi``, ``metrics``, ``podnotifier`` — the faces;
* ``main`` — wiring for ``fma launcher``.
"""
