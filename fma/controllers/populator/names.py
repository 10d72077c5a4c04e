"""Wire names the populator reads and writes (CONTRACTS.md A1, A2)."""

from __future__ import annotations

PREFIX = "dual-pods.llm-d.ai/"
LABEL_LAUNCHER_CONFIG = PREFIX + "launcher-config-name"
LABEL_NODE = PREFIX + "node-name"
LABEL_STUCK = PREFIX + "launcher-stuck"
LABEL_COMPONENT = "app.kubernetes.io/component"
COMPONENT_LAUNCHER = "launcher"
ANN_CONFIG_HASH = PREFIX + "launcher-config-hash"
ANN_TEMPLATE_HASH = PREFIX + "launcher-populator-template-hash"
ANN_REQUESTER = PREFIX + "requester"
ANN_INSTANCE_SIGNATURE = PREFIX + "vllm-instance-signature"  # written by the launcher itself
# the signature of a launcher with no instances: SHA-256 of the JSON of an empty list
EMPTY_SIGNATURE = "4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"
# downward-API env a launcher needs to annotate its own pod (the instance signature)
POD_ENV = {"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace"}

EVENT_STUCK = "LauncherStuck"
EVENT_BAD_CONFIG = "InvalidLauncherConfig"
EVENT_BAD_POLICY = "InvalidLauncherPopulationPolicy"

CRD_GROUP = "fma.llm-d.ai"
CRD_VERSION = "v1alpha1"
LC_KIND = "LauncherConfig"
LPP_KIND = "LauncherPopulationPolicy"

CONTAINER = "inference-server"
GPU_RESOURCE = "nvidia.com/gpu"
LAUNCHER_PORT = 8001
# Environment the populator forces on the launcher container, as FMA does: the launcher
# sees every GPU of its node (it requests none; requesters hold the slots) and vLLM's
# admin routes (/sleep, /wake_up, /is_sleeping) are on.
FORCED_ENV = {
    "NVIDIA_VISIBLE_DEVICES": "all",
    "NVIDIA_DRIVER_CAPABILITIES": "compute,utility",
    "VLLM_SERVER_DEV_MODE": "1",
}
