"""A real Kubernetes control plane for tests and local runs (etcd, kube-apiserver,
kube-controller-manager, kube-scheduler built from upstream Go modules) with nodes and pod
lifecycles simulated by kwok. See docs/devcluster.md.
"""

from meshploy_core.devcluster.binaries import (
    DevClusterError,
    GoToolchainMissingError,
    KubeBinaries,
    ensure_binaries,
)
from meshploy_core.devcluster.cluster import DevCluster
from meshploy_core.devcluster.nodes import SimulatedNode, standard_nodes

__all__ = [
    "DevCluster",
    "DevClusterError",
    "GoToolchainMissingError",
    "KubeBinaries",
    "SimulatedNode",
    "ensure_binaries",
    "standard_nodes",
]
