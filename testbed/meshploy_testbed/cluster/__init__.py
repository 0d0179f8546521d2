"""A real Kubernetes control plane for tests and local runs (etcd, kube-apiserver,
kube-controller-manager, kube-scheduler built from upstream Go modules) with nodes and pod
lifecycles simulated by kwok. See docs/devcluster.md.
"""

from meshploy_testbed.cluster.binaries import (
    DevClusterError,
    GoToolchainMissingError,
    KubeBinaries,
    ensure_binaries,
)
from meshploy_testbed.cluster.cluster import DevCluster
from meshploy_testbed.cluster.nodes import SimulatedNode, standard_nodes

__all__ = [
    "DevCluster",
    "DevClusterError",
    "GoToolchainMissingError",
    "KubeBinaries",
    "SimulatedNode",
    "ensure_binaries",
    "standard_nodes",
]
