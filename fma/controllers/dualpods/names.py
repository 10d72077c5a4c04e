"""Wire names of CONTRACTS.md A1 (exact spelling), plus the few names that are ours."""

from __future__ import annotations

PREFIX = "dual-pods.llm-d.ai/"

# annotations
ANN_SERVER_PATCH = PREFIX + "server-patch"
ANN_ISC = PREFIX + "inference-server-config"
ANN_ADMIN_PORT = PREFIX + "admin-port"
ANN_STATUS = PREFIX + "status"
ANN_ACCELERATORS = PREFIX + "accelerators"
ANN_REQUESTER = PREFIX + "requester"
ANN_NOMINAL = PREFIX + "nominal"
ANN_INSTANCE_ID = PREFIX + "instance-id"
ANN_SERVER_PORT = PREFIX + "server-port"
ANN_VLLM_CONFIG = PREFIX + "vllm-config"
ANN_ISC_ROUTING = PREFIX + "isc-routing-metadata"
ANN_LAUNCHER_CONFIG_HASH = PREFIX + "launcher-config-hash"

# labels
LBL_DUAL = PREFIX + "dual"
LBL_INSTANCE = PREFIX + "instance"
LBL_SLEEPING = PREFIX + "sleeping"
LBL_LAUNCHER_CONFIG = PREFIX + "launcher-config-name"
LBL_NODE_NAME = PREFIX + "node-name"
LBL_COMPONENT = "app.kubernetes.io/component"
COMPONENT_LAUNCHER = "launcher"

# finalizers
FIN_PROVIDER = PREFIX + "provider"
FIN_REQUESTER = PREFIX + "requester"

# other FMA names
GPU_MAP = "gpu-map"
SERVER_CONTAINER = "inference-server"
DEFAULT_ADMIN_PORT = 8081
GPU_RESOURCE = "nvidia.com/gpu"

# ours (beyond FMA): when a provider/instance was last released (unix seconds, for LRU)
# and how many host-memory bytes a sleeper holds (for the byte budget)
OURS = "fma.llm-d.ai/"
ANN_LAST_USED = OURS + "last-used"
ANN_SLEEPER_BYTES = OURS + "sleeper-bytes"
ANN_ISC_GENERATION = OURS + "isc-generation"
