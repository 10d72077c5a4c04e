"""The launcher's own lifecycle (machine ``launcher-node``), for its records in the log.

Instances have :class:`fma.statemachines.InstanceLifecycle`; the launcher records the
facts that belong to no single instance: that it started (again), and that an instance
was *removed* from its table (``DELETE``), which is what makes a removed id disappear on
recovery and what carries the watch revision of the ``DELETED`` event.
"""

from __future__ import annotations

from enum import Enum

from fma.statemachines import register
from fma.statemachines.base import Lifecycle, Transition


class NodeState(str, Enum):
    STARTING = "starting"
    RUNNING = "running"
    STOPPED = "stopped"


N = NodeState


@register
class NodeLauncherLifecycle(Lifecycle):
    name = "launcher-node"
    States = NodeState
    initial = N.STARTING
    table = (
        Transition("started", (N.STARTING, N.RUNNING, N.STOPPED), N.RUNNING, "observation",
                   doc="the launcher process is up (again): data pid, engine, revision"),
        Transition("removed", (N.RUNNING,), None, "command",
                   doc="an instance left the table (DELETE): data instance_id, actor, revision"),
        Transition("shutdown", (N.RUNNING,), N.STOPPED, "command", doc="clean exit"),
    )
