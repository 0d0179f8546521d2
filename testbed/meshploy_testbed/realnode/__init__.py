"""Real worker nodes for the test bed: kubelet + containerd in network namespaces, their
network, the local image registry and the OCI images it serves (docs/realnode.md)."""
