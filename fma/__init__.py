"""FMA-py: Fast Model Actuation for vLLM on Kubernetes."""

__version__ = "0.1.0"
