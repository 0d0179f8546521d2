"""Deploying services: the catalog of services, deployment requests, and the reconciler."""
