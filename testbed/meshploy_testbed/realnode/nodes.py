"""Real worker nodes next to the simulated ones: kubelet + containerd + runc + kube-proxy.

A real node runs actual containers. Each is a network namespace on the test bed's bridge
(its address stands in for the node's mesh IP and is its InternalIP), with its own
containerd (root, state, socket; images from the gateway registry, never the internet), CNI
bridge network, kubelet (client certificate ``system:node:<name>`` from the cluster's CA)
and kube-proxy in iptables mode, so ``<node address>:<NodePort>`` reaches the pods exactly
as the gateway's proxy reaches a worker over the mesh. Needs root, Debian's ``containerd``,
``runc``, ``containernetworking-plugins``, ``iptables`` and ``docker-registry``; see
docs/realnode.md.

Stopping a node (or the cluster) leaves nothing behind: no process, mount, network
namespace, iptables rule (they live in the node's namespace) or cgroup; a test bed whose
owner was killed is reaped by the next one (see :mod:`meshploy_testbed.realnode.realnet`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

from meshploy_testbed.cluster.api import ApiStatusError, KubeApi, poll_until
from meshploy_testbed.cluster.binaries import DevClusterError, cache_dir, expected_binaries
from meshploy_testbed.cluster.kubeconfig import write_kubeconfig
from meshploy_testbed.cluster.nodes import node_condition
from meshploy_testbed.cluster.pki import CertPair, issue_client_cert
from meshploy_testbed.cluster.processes import ManagedProcess, spawn, stop_process
from meshploy_testbed.realnode import hostnet, images, nodeconfig
from meshploy_testbed.realnode.realnet import (
    STATE_DIR,
    NodeRecord,
    RealNetwork,
    cgroup_procs_files,
    enter,
)
from meshploy_testbed.realnode.registry import Login

REAL_NODE_LABEL = "meshploy.com/real-node"
_DIRECTORY_MAX = 64
_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


# ----- what the machine needs ------------------------------------------------------------


def node_binary(name: str) -> Path:
    """Cached path of ``kubelet`` or ``kube-proxy`` at the control plane's version."""
    version = expected_binaries().versions.kubernetes
    return cache_dir() / "bin" / f"{name}-{version}"


def support_problems() -> list[str]:
    """Why this machine cannot run real nodes; empty when it can.

    Each entry names what is missing and how to get it, so a skipped test or a refused
    ``meshploy dev --real-node`` says exactly what blocks.
    """
    problems = []
    if os.geteuid() != 0:
        problems.append("real nodes need root (network namespaces, mounts, cgroups)")
    for tool, package in (
        ("containerd", "containerd"),
        ("containerd-shim-runc-v2", "containerd"),
        ("runc", "runc"),
        ("iptables", "iptables"),
        ("docker-registry", "docker-registry"),
        ("ip", "iproute2"),
    ):
        if shutil.which(tool, path=_PATH) is None:
            problems.append(f"{tool} is missing: apt-get install {package}")
    if _cni_bin_dir() is None:
        problems.append(
            "CNI plugins (bridge, host-local, portmap, loopback) are missing: "
            "apt-get install containernetworking-plugins"
        )
    try:
        images.find_busybox()
    except DevClusterError as exc:
        problems.append(str(exc))
    for name in ("kubelet", "kube-proxy"):
        if not os.access(node_binary(name), os.X_OK):
            problems.append(
                f"{node_binary(name)} is missing: run testbed/build.sh --with-node"
            )
    names = {p.name for p in hostnet.cgroup_hierarchies()}
    if not _unified_v2() and not {"cpu", "memory", "pids"} <= names:
        problems.append(
            f"cgroup v1 controllers cpu, memory and pids must be mounted in "
            f"{hostnet.CGROUP_MOUNT} (found: {', '.join(sorted(names)) or 'none'})"
        )
    if not Path("/proc/sys/net/bridge/bridge-nf-call-iptables").exists():
        problems.append(
            "bridge netfilter is unavailable (no /proc/sys/net/bridge): kube-proxy cannot "
            "see bridged pod traffic; load br_netfilter (modprobe br_netfilter)"
        )
    return problems


def _unified_v2() -> bool:
    return (hostnet.CGROUP_MOUNT / "cgroup.controllers").exists()


def _cni_bin_dir() -> Path | None:
    for candidate in nodeconfig.CNI_BIN_DIRS:
        path = Path(candidate)
        if all((path / p).exists() for p in ("bridge", "host-local", "loopback", "portmap")):
            return path
    return None


# ----- one node --------------------------------------------------------------------------


@dataclass
class RealNode:
    """One running real node. Create with :meth:`RealNodes.add`."""

    layout: nodeconfig.NodeLayout
    record: NodeRecord
    processes: list[ManagedProcess]

    @property
    def name(self) -> str:
        """The Node's name."""
        return self.layout.name

    @property
    def address(self) -> str:
        """The node's InternalIP (its stand-in mesh IP), reachable from the host."""
        return self.layout.address

    @property
    def netns(self) -> str:
        """The node's network namespace (``ip netns exec <netns> ...``)."""
        return self.layout.netns

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of each component's log, for failure messages."""
        return "\n".join(f"--- {p.name}\n{p.log_tail(lines)}" for p in self.processes)

    def check_running(self) -> None:
        """Raise with the log's tail if a component has exited."""
        for proc in self.processes:
            proc.check_running()

    def stop_processes(self) -> None:
        """SIGTERM kube-proxy, kubelet and containerd (newest first)."""
        for proc in reversed(self.processes):
            stop_process(proc, grace=5.0)
        self.processes.clear()


def _node_kubeconfig(
    path: Path, network: RealNetwork, ca: Path, client: CertPair, user: str
) -> Path:
    # The API server's certificate names localhost; the node reaches it via the forwarder.
    return write_kubeconfig(
        path, network.api_server, ca, client, user=user, tls_server_name="localhost"
    )


class ClusterAccess(Protocol):
    """What real nodes need of the control plane they join (a :class:`DevCluster`)."""

    @property
    def server(self) -> str:
        """The API server's URL."""
        ...

    @property
    def workdir(self) -> Path:
        """The cluster's working directory (PKI, node directories)."""
        ...

    @property
    def api(self) -> KubeApi:
        """An admin client of the API server."""
        ...


class RealNodes:
    """The real nodes of one cluster, their network and the gateway registry."""

    def __init__(self, cluster: ClusterAccess, timeout: float = 120.0) -> None:
        self._cluster = cluster
        self._timeout = timeout
        self._nodes: dict[str, RealNode] = {}
        self._network: RealNetwork | None = None
        self._next_index = 1

    @property
    def network(self) -> RealNetwork:
        """The bridge network (started by the first :meth:`add`)."""
        if self._network is None:
            raise DevClusterError("no real node has been added yet")
        return self._network

    @property
    def registry(self) -> str:
        """``host:port`` of the gateway registry real nodes pull from."""
        return self.network.registry_address

    @property
    def auth_registry(self) -> str:
        """``host:port`` of the gateway registry that requires :attr:`auth_registry_login`."""
        return self.network.auth_registry_address

    @property
    def auth_registry_login(self) -> Login:
        """The user and password the auth registry accepts."""
        return self.network.auth_registry_login

    @property
    def nodes(self) -> Sequence[RealNode]:
        """The running real nodes."""
        return tuple(self._nodes.values())

    def push(self, image: images.OciImage, repository: str, tag: str) -> str:
        """Push ``image`` to the gateway registry; return the reference pods should use."""
        return images.push(image, self.registry, repository, tag)

    def push_private(self, image: images.OciImage, repository: str, tag: str) -> str:
        """Push ``image`` to the auth registry (with its login); return the reference.
        Pods pull it only with a pull secret holding :attr:`auth_registry_login`."""
        return images.push(image, self.auth_registry, repository, tag, self.auth_registry_login)

    def ensure_network(self) -> RealNetwork:
        """Start the bridge, API forwarder and registry if not yet running."""
        if self._network is None:
            problems = support_problems()
            if problems:
                raise DevClusterError("cannot run real nodes here: " + "; ".join(problems))
            port = int(self._cluster.server.rsplit(":", 1)[1])
            network = RealNetwork(self._cluster.workdir / "realnet", port)
            self._network = network.start(self._timeout)
        return self._network

    def add(self, name: str, labels: dict[str, str] | None = None, wait: bool = True) -> RealNode:
        """Start a real node called ``name``; with ``wait``, return once it is Ready."""
        if name in self._nodes:
            raise DevClusterError(f"real node {name} already exists")
        network = self.ensure_network()
        index = self._next_index
        self._next_index += 1
        directory = self._cluster.workdir / "realnodes" / name
        # The kubelet makes unix sockets deep in its root dir (pod-resources/<10 digits>);
        # a socket path has at most 107 bytes.
        if len(str(directory)) > _DIRECTORY_MAX:
            raise DevClusterError(
                f"{directory} is too long for the kubelet's unix sockets "
                f"(at most {_DIRECTORY_MAX} characters); use a shorter cluster workdir"
            )
        cni_bin = _cni_bin_dir()
        assert cni_bin is not None  # support_problems() checked
        layout = nodeconfig.NodeLayout(
            name=name,
            index=index,
            directory=directory,
            address=network.node_address(index),
            cgroup=f"{network.cgroup}/{name}",
            netns=f"mp{network.slot}-{name}"[:48],
            registry=network.registry_address,
            auth_registry=network.auth_registry_address,
            pause_image=network.pause_image,
            ca_cert=self._cluster.workdir / "pki" / "ca.crt",
            runc=Path(shutil.which("runc", path=_PATH) or "runc"),
            cni_bin=cni_bin,
            containerd_socket=STATE_DIR / f"mp{network.slot}-{name}"[:48] / "containerd.sock",
        )
        veth = f"mp{network.slot}v{index}"
        record = NodeRecord(
            name,
            layout.netns,
            layout.cgroup,
            str(directory),
            layout.cni_network,
            veth,
            str(layout.containerd_socket.parent),
        )
        network.add_node(record)
        node = RealNode(layout, record, [])
        try:
            self._start(node, network, labels or {})
            self._nodes[name] = node
            if wait:
                self.wait_ready(name)
        except BaseException:
            self._nodes.pop(name, None)
            node.stop_processes()
            network.remove_node(record)
            raise
        return node

    def _start(self, node: RealNode, network: RealNetwork, labels: dict[str, str]) -> None:
        lo = node.layout
        lo.containerd_socket.parent.mkdir(parents=True, exist_ok=True)
        for sub in ("containerd", "cni/net.d", "cni/ipam", "kubelet", "kube-proxy", "pki"):
            lo.path(sub).mkdir(parents=True, exist_ok=True)
        hostnet.create_cgroup(f"{lo.cgroup}/system")
        hostnet.create_node_netns(
            lo.netns,
            node.record.host_veth,
            network.bridge,
            lo.address,
            24,
            network.gateway,
        )
        for other in self._nodes.values():  # pods on different real nodes reach each other
            hostnet.add_netns_route(lo.netns, other.layout.pod_cidr, other.address)
            hostnet.add_netns_route(other.netns, lo.pod_cidr, lo.address)
        self._write_configs(lo, network)
        setup = enter(lo.netns, cgroup_procs_files(f"{lo.cgroup}/system"))
        env = {"PATH": _PATH, "HOME": str(lo.directory), "LANG": "C.UTF-8"}

        def start(name: str, argv: list[str]) -> ManagedProcess:
            proc = spawn(name, argv, lo.path("logs", f"{name}.log"), env=env, setup=setup)
            node.processes.append(proc)
            return proc

        containerd = start(
            "containerd", ["containerd", "--config", str(lo.path("containerd", "config.toml"))]
        )
        poll_until(
            lambda: lo.containerd_socket.is_socket(),
            self._timeout,
            f"containerd on {lo.name} to listen",
            check=containerd.check_running,
        )
        node_labels = {REAL_NODE_LABEL: "true", **labels}
        start(
            "kubelet",
            [
                str(node_binary("kubelet")),
                f"--config={lo.path('kubelet', 'config.yaml')}",
                f"--kubeconfig={lo.path('kubelet', 'kubeconfig')}",
                f"--root-dir={lo.path('kubelet', 'root')}",
                f"--cert-dir={lo.path('kubelet', 'pki')}",
                f"--hostname-override={lo.name}",
                f"--node-ip={lo.address}",
                "--node-labels=" + ",".join(f"{k}={v}" for k, v in sorted(node_labels.items())),
                "--v=1",
            ],
        )
        start(
            "kube-proxy",
            [
                str(node_binary("kube-proxy")),
                f"--config={lo.path('kube-proxy', 'config.yaml')}",
                "--v=1",
            ],
        )

    def _write_configs(self, lo: nodeconfig.NodeLayout, network: RealNetwork) -> None:
        ca = CertPair(lo.ca_cert, lo.ca_cert.with_suffix(".key"))
        kubelet_cert = issue_client_cert(
            lo.path("pki"), "kubelet", ca, f"system:node:{lo.name}", ("system:nodes",)
        )
        proxy_cert = issue_client_cert(lo.path("pki"), "kube-proxy", ca, "system:kube-proxy")
        _node_kubeconfig(
            lo.path("kubelet", "kubeconfig"),
            network,
            lo.ca_cert,
            kubelet_cert,
            f"system:node:{lo.name}",
        )
        proxy_kubeconfig = _node_kubeconfig(
            lo.path("kube-proxy", "kubeconfig"),
            network,
            lo.ca_cert,
            proxy_cert,
            "system:kube-proxy",
        )
        lo.path("containerd", "config.toml").write_text(nodeconfig.containerd_config(lo))
        for host, text in nodeconfig.registry_hosts(lo).items():
            hosts = lo.path("containerd", "certs.d", host, "hosts.toml")
            hosts.parent.mkdir(parents=True, exist_ok=True)
            hosts.write_text(text)
        lo.path("cni", "net.d", "10-meshploy.conflist").write_text(
            json.dumps(nodeconfig.cni_config(lo), indent=1)
        )
        lo.path("kubelet", "config.yaml").write_text(
            yaml.safe_dump(nodeconfig.kubelet_config(lo), sort_keys=False)
        )
        lo.path("kube-proxy", "config.yaml").write_text(
            yaml.safe_dump(nodeconfig.kube_proxy_config(lo, proxy_kubeconfig), sort_keys=False)
        )

    def wait_ready(self, name: str, timeout: float | None = None) -> dict[str, Any]:
        """Wait until the kubelet of ``name`` reports the Node Ready; return the Node."""
        node = self._nodes[name]
        api = self._cluster.api

        def ready() -> dict[str, Any] | None:
            try:
                obj: dict[str, Any] = api.get(f"/api/v1/nodes/{name}")
            except ApiStatusError:
                return None
            return obj if node_condition(obj, "Ready") == "True" else None

        try:
            return poll_until(
                ready,
                timeout or self._timeout,
                f"real node {name} to be Ready",
                check=node.check_running,
            )
        except DevClusterError as exc:
            raise DevClusterError(f"{exc}\n{node.log_tail()}") from None

    def remove(self, name: str) -> None:
        """Stop ``name``, tear it down and delete its Node object."""
        node = self._nodes.pop(name)
        try:
            node.stop_processes()
        finally:
            self.network.remove_node(node.record)
        with contextlib.suppress(ApiStatusError, OSError):  # the cluster may be stopping too
            self._cluster.api.request("DELETE", f"/api/v1/nodes/{name}")

    def stop(self) -> None:
        """Stop every real node and the network (bridge, forwarder, registry)."""
        for node in list(self._nodes.values()):
            node.stop_processes()
        self._nodes.clear()
        if self._network is not None:
            network, self._network = self._network, None
            network.stop()
