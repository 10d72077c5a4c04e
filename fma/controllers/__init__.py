"""Kubernetes controllers (dual-pods, launcher populator): pure decisions, actors, adapters."""
