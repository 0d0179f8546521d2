"""Machines in the mesh that run workloads."""
