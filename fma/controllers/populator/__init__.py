"""The launcher populator: keeps the right number of launcher pods on each node.

Layers, lowest first: :mod:`names`; pure parts :mod:`quantity`, :mod:`selector`,
:mod:`policy` (desired counts), :mod:`template` (launcher pods and drift digests),
:mod:`launchers` (reading pods), :mod:`stuck`, :mod:`expectations`, :mod:`plan` (one node's
decisions), :mod:`lifecycle` (a pair's lifecycle, registered as ``launcher-pair``); the
live parts :mod:`port` (what it needs from Kubernetes), :mod:`memport` (in memory, for
tests), :mod:`controller` (informer events -> plans -> writes, event log, metrics).
"""

from fma.controllers.populator import lifecycle as _lifecycle  # noqa: F401  (registers launcher-pair)
