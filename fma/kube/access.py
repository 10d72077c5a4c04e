"""What the FMA controllers ask of the API server: per controller, every (API group,
resource, verb) their kube adapters use and whether it is namespaced or cluster-wide. The
chart's RBAC must grant all of it (tests/unit/test_chart_rbac_covers_controllers.py), and a
live run against the emulator in RBAC mode must use nothing beyond it
(tests/e2e/test_deploy_rendered_chart_on_emulator.py reads the emulator's access record).

Adapters: dualpods_port.py (informers on pods, configmaps, ISCs, LauncherConfigs and nodes;
pod create/patch/delete; events), populator_port.py (informers on nodes, launcher pods,
LauncherConfigs, LauncherPopulationPolicies; pod get/create/patch/delete; status patches),
leader.py (the Lease of --leader-elect), events.py.
"""

from __future__ import annotations

from dataclasses import dataclass

CONTROLLER = "dual-pods-controller"
POPULATOR = "launcher-populator"
FMA = "fma.llm-d.ai"
LEASES = ("coordination.k8s.io", "leases", ("get", "create", "update"))


@dataclass(frozen=True)
class Need:
    group: str
    resource: str  # plural, or plural/subresource
    verb: str
    cluster: bool = False  # cluster-scoped (needs a ClusterRole), else in the release's namespace
    optional: bool = False  # the controller runs without it (degraded, with a warning)


def _expand(rows: list[tuple[str, str, tuple[str, ...]]], cluster: bool = False,
            optional: bool = False) -> list[Need]:
    return [Need(g, r, v, cluster, optional) for g, r, verbs in rows for v in verbs]


NEEDS: dict[str, list[Need]] = {
    CONTROLLER: _expand([
        ("", "pods", ("get", "list", "watch", "create", "patch", "delete")),
        ("", "configmaps", ("list", "watch")),            # the gpu-map ConfigMap
        ("", "events", ("create", "patch")),
        (FMA, "inferenceserverconfigs", ("list", "watch")),
        (FMA, "launcherconfigs", ("list", "watch")),
        LEASES,
    ]) + _expand([("", "nodes", ("list", "watch"))], cluster=True, optional=True),
    POPULATOR: _expand([
        ("", "pods", ("get", "list", "watch", "create", "patch", "delete")),
        ("", "events", ("create", "patch")),
        (FMA, "launcherconfigs", ("list", "watch")),
        (FMA, "launcherpopulationpolicies", ("list", "watch")),
        (FMA, "launcherconfigs/status", ("patch",)),
        (FMA, "launcherpopulationpolicies/status", ("patch",)),
        LEASES,
    ]) + _expand([("", "nodes", ("list", "watch"))], cluster=True),
}


def all_needs() -> set[tuple[str, str, str]]:
    """(group, resource, verb) any controller uses."""
    return {(n.group, n.resource, n.verb) for needs in NEEDS.values() for n in needs}
