"""Deploying services: deployment requests and their logs, the reconciler that converges the
cluster, and the leader-elected worker process that runs it."""
