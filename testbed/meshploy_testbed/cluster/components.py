"""Command lines of the control-plane components: pure functions of a :class:`Layout`.

Kept apart from the process handling in cluster.py so the flags are easy to read and review.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meshploy_testbed.cluster.binaries import KubeBinaries
from meshploy_testbed.cluster.nodes import KWOK_DISREGARD_ANNOTATION, KWOK_MANAGED_ANNOTATION
from meshploy_testbed.cluster.pki import ClusterPKI

SERVICE_CIDR = "10.96.0.0/12"
SERVICE_IP = "10.96.0.1"
POD_CIDR = "10.244.0.0/16"
# kwok renews node Leases every quarter of this; the node-lifecycle controller declares a
# node Unknown after NODE_MONITOR_GRACE without a renewal. Shorter than the kubelet's
# defaults (40 s / 50 s) so a simulated outage is noticed in ~20 s, still 4 renewals apart.
NODE_LEASE_SECONDS = 20
NODE_MONITOR_GRACE = "20s"
SA_ISSUER = "https://kubernetes.default.svc.cluster.local"
# Client certificates: file stem -> (user, groups). Components get their RBAC identities.
CLIENTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "admin": ("meshploy-admin", ("system:masters",)),
    "controller-manager": ("system:kube-controller-manager", ()),
    "scheduler": ("system:kube-scheduler", ()),
    # kwok writes node and pod status for every simulated node: it acts as all kubelets.
    "kwok": ("kwok-controller", ("system:masters",)),
    # The API server's identity towards real kubelets (logs, exec), which authenticate
    # clients by certificate and authorize them with SubjectAccessReviews.
    "apiserver-kubelet-client": ("kube-apiserver-kubelet-client", ("system:masters",)),
}
CONTROLLERS = (
    "clusterrole-aggregation-controller",
    "cronjob-controller",
    "daemonset-controller",
    "deployment-controller",
    "disruption-controller",
    "endpoints-controller",
    "endpointslice-controller",
    "endpointslice-mirroring-controller",
    "garbage-collector-controller",
    "job-controller",
    "namespace-controller",
    "node-lifecycle-controller",
    "pod-garbage-collector-controller",
    "replicaset-controller",
    "resourcequota-controller",
    "root-ca-certificate-publisher-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "statefulset-controller",
    "taint-eviction-controller",
    "ttl-after-finished-controller",
)
# kwok's own standard stages, copied from its module by build.sh. No heartbeat stage: node
# health is carried by leases, so a NotReady set on purpose is never overwritten.
KWOK_STAGES = ("node-initialize", "pod-ready", "pod-complete", "pod-delete")


@dataclass(frozen=True)
class Ports:
    """The loopback ports one cluster listens on."""

    etcd: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int
    kwok: int


@dataclass(frozen=True)
class Layout:
    """Everything the command lines depend on."""

    workdir: Path
    binaries: KubeBinaries
    ports: Ports
    pki: ClusterPKI
    kubeconfigs: dict[str, Path]

    @property
    def etcd_url(self) -> str:
        """etcd's client URL."""
        return f"http://127.0.0.1:{self.ports.etcd}"

    @property
    def server(self) -> str:
        """The API server's URL."""
        return f"https://127.0.0.1:{self.ports.apiserver}"


def etcd_argv(lo: Layout) -> list[str]:
    """etcd: one member, plain HTTP on loopback, no fsync (the data is throwaway)."""
    peer = f"http://127.0.0.1:{lo.ports.etcd_peer}"
    return [
        str(lo.binaries.etcd),
        "--name=default",
        f"--data-dir={lo.workdir / 'etcd'}",
        f"--listen-client-urls={lo.etcd_url}",
        f"--advertise-client-urls={lo.etcd_url}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=default={peer}",
        "--unsafe-no-fsync=true",
        "--log-level=warn",
    ]


def apiserver_argv(lo: Layout) -> list[str]:
    """kube-apiserver: client-cert auth, Node+RBAC authorization, service-account tokens."""
    pki = lo.pki
    return [
        str(lo.binaries.kube_apiserver),
        f"--etcd-servers={lo.etcd_url}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--secure-port={lo.ports.apiserver}",
        f"--tls-cert-file={pki.apiserver.cert_path}",
        f"--tls-private-key-file={pki.apiserver.key_path}",
        f"--client-ca-file={pki.ca.cert_path}",
        "--authorization-mode=Node,RBAC",
        f"--service-account-key-file={pki.service_account_pub}",
        f"--service-account-signing-key-file={pki.service_account_key}",
        f"--service-account-issuer={SA_ISSUER}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--allow-privileged=true",
        "--profiling=false",
        f"--cert-dir={lo.workdir / 'pki' / 'apiserver-generated'}",
        f"--kubelet-client-certificate={pki.clients['apiserver-kubelet-client'].cert_path}",
        f"--kubelet-client-key={pki.clients['apiserver-kubelet-client'].key_path}",
        # Real nodes are reached at their mesh address; their names are not in any DNS.
        "--kubelet-preferred-address-types=InternalIP,Hostname",
    ]


def controller_manager_argv(lo: Layout) -> list[str]:
    """kube-controller-manager: the controllers a Meshploy cluster relies on, no leader election."""
    conf = lo.kubeconfigs["controller-manager"]
    return [
        str(lo.binaries.kube_controller_manager),
        f"--kubeconfig={conf}",
        f"--authentication-kubeconfig={conf}",
        f"--authorization-kubeconfig={conf}",
        "--bind-address=127.0.0.1",
        f"--secure-port={lo.ports.controller_manager}",
        f"--cert-dir={lo.workdir / 'kcm-certs'}",
        "--leader-elect=false",
        f"--controllers={','.join(CONTROLLERS)}",
        f"--service-account-private-key-file={lo.pki.service_account_key}",
        f"--root-ca-file={lo.pki.ca.cert_path}",
        "--use-service-account-credentials=true",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--cluster-name=meshploy-dev",
        # Notice node health changes within 2s (default 5s); cheap with a few nodes.
        "--node-monitor-period=2s",
        f"--node-monitor-grace-period={NODE_MONITOR_GRACE}",
        "--profiling=false",
    ]


def scheduler_argv(lo: Layout) -> list[str]:
    """kube-scheduler with its default profile, no leader election."""
    conf = lo.kubeconfigs["scheduler"]
    return [
        str(lo.binaries.kube_scheduler),
        f"--kubeconfig={conf}",
        f"--authentication-kubeconfig={conf}",
        f"--authorization-kubeconfig={conf}",
        "--bind-address=127.0.0.1",
        f"--secure-port={lo.ports.scheduler}",
        f"--cert-dir={lo.workdir / 'scheduler-certs'}",
        "--leader-elect=false",
        "--profiling=false",
    ]


def kwok_config(lo: Layout) -> dict[str, Any]:
    """kwok's KwokConfiguration document (pod IP range, lease duration)."""
    return {
        "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
        "kind": "KwokConfiguration",
        "options": {"cidr": POD_CIDR, "nodeLeaseDurationSeconds": NODE_LEASE_SECONDS},
    }


def kwok_argv(lo: Layout, config: Path, extra_stages: Sequence[Path] = ()) -> list[str]:
    """kwok managing only nodes annotated as fake, with its standard stages (plus extras)."""
    stages = [lo.binaries.kwok_stages / f"{s}.yaml" for s in KWOK_STAGES]
    stages += [Path(p).resolve() for p in extra_stages]
    return [
        str(lo.binaries.kwok),
        f"--kubeconfig={lo.kubeconfigs['kwok']}",
        f"--config={config}",
        *(f"--config={s}" for s in stages),
        "--manage-all-nodes=false",
        f"--manage-nodes-with-annotation-selector={'='.join(KWOK_MANAGED_ANNOTATION)}",
        f"--disregard-status-with-annotation-selector={'='.join(KWOK_DISREGARD_ANNOTATION)}",
        f"--server-address=127.0.0.1:{lo.ports.kwok}",
        f"--node-lease-duration-seconds={NODE_LEASE_SECONDS}",
    ]
