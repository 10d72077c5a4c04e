"""Pure lifecycles (no I/O, no clock, no threads); see :mod:`fma.statemachines.base`."""

from fma.statemachines.base import (
    Effect,
    Event,
    FoldError,
    IllegalCommand,
    Lifecycle,
    LifecycleError,
    Step,
    Transition,
    fold,
    rebuild,
)
from fma.statemachines.binding import BindingLifecycle, BindingState
from fma.statemachines.instance import InstanceLifecycle, InstanceState
from fma.statemachines.launcher import LauncherLifecycle, LauncherState
from fma.statemachines.provider import ProviderLifecycle, ProviderState

LIFECYCLES: dict[str, type[Lifecycle]] = {
    cls.name: cls
    for cls in (InstanceLifecycle, ProviderLifecycle, BindingLifecycle, LauncherLifecycle)
}


def register(cls: type[Lifecycle]) -> type[Lifecycle]:
    """Add a lifecycle defined elsewhere (e.g. a controller's) to the registry; returns it."""
    LIFECYCLES[cls.name] = cls
    return cls


__all__ = [
    "Effect", "Event", "FoldError", "IllegalCommand", "Lifecycle", "LifecycleError", "Step",
    "Transition", "fold", "rebuild", "LIFECYCLES", "register",
    "BindingLifecycle", "BindingState", "InstanceLifecycle", "InstanceState",
    "LauncherLifecycle", "LauncherState", "ProviderLifecycle", "ProviderState",
]
