"""Kubernetes: desired-state types, pure manifest rendering, the adapter, rollout status."""
