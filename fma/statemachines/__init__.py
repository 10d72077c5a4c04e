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


# Modules of higher layers that define and register their own lifecycles. Named, not
# imported, here (this package imports nothing above it); :func:`load_all` imports them so
# that tools which list every lifecycle (``fma lifecycle``, ``fma debug replay``) see the
# same set whatever was imported before.
PLUGIN_MODULES = (
    "launcher.nodelifecycle",
    "fma.controllers.dualpods.journal",
    "fma.controllers.populator.lifecycle",
)


def load_all() -> dict[str, type[Lifecycle]]:
    """Import every plugin module (skipping any that is absent) and return the registry."""
    import importlib

    for name in PLUGIN_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    return LIFECYCLES


__all__ = [
    "Effect", "Event", "FoldError", "IllegalCommand", "Lifecycle", "LifecycleError", "Step",
    "Transition", "fold", "rebuild", "LIFECYCLES", "register", "load_all",
    "BindingLifecycle", "BindingState", "InstanceLifecycle", "InstanceState",
    "LauncherLifecycle", "LauncherState", "ProviderLifecycle", "ProviderState",
]
