"""Configuration files of one real node: pure functions of a :class:`NodeLayout`.

containerd (own root, state and socket; CRI with CNI and the registries trusted over plain
HTTP), the CNI bridge network, the kubelet and kube-proxy (iptables mode). Kept apart from
the process handling in realnode.py so the settings are easy to review.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CNI_BIN_DIRS = ("/usr/lib/cni", "/opt/cni/bin")
POD_NETWORK = "100.96.0.0/16"
KUBELET_PORT = 10250
NODE_LEASE_SECONDS = 20


@dataclass(frozen=True)
class NodeLayout:
    """Names, addresses and paths of one real node."""

    name: str
    index: int
    directory: Path
    address: str
    cgroup: str
    netns: str
    registry: str
    #: The gateway's second registry, which requires a login (pulled with a pull secret).
    auth_registry: str
    pause_image: str
    ca_cert: Path
    runc: Path
    cni_bin: Path
    #: containerd's gRPC socket (the kubelet's CRI endpoint). Kept short, outside the
    #: directory: a unix socket path has at most 107 bytes.
    containerd_socket: Path

    @property
    def pod_cidr(self) -> str:
        """The node's pod subnet (host-local IPAM), inside :data:`POD_NETWORK`."""
        return f"100.96.{self.index}.0/24"

    @property
    def cni_network(self) -> str:
        """The CNI network name; libcni names its cache files after it."""
        return f"mp-{self.netns}"

    def path(self, *parts: str) -> Path:
        """A path inside the node's directory."""
        return self.directory.joinpath(*parts)


def restrict_oom_score_adj() -> bool:
    """True when this process lacks CAP_SYS_RESOURCE, so OOM scores cannot be lowered."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return not (int(line.split()[1], 16) >> 24) & 1  # bit 24: CAP_SYS_RESOURCE
    return False


def _toml_str(value: str | Path) -> str:
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def containerd_config(lo: NodeLayout) -> str:
    """containerd 1.6 ``config.toml`` (version 2)."""
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    disabled = [
        "io.containerd.snapshotter.v1.aufs",
        "io.containerd.snapshotter.v1.btrfs",
        "io.containerd.snapshotter.v1.devmapper",
        "io.containerd.snapshotter.v1.zfs",
        "io.containerd.internal.v1.tracing",
        "io.containerd.tracing.processor.v1.otlp",
    ]
    return f"""version = 2
root = {_toml_str(lo.path("containerd", "root"))}
state = {_toml_str(lo.path("containerd", "state"))}
disabled_plugins = {json.dumps(disabled)}

[grpc]
  address = {_toml_str(lo.containerd_socket)}

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = {_toml_str(lo.path("containerd", "opt"))}

[{cri}]
  sandbox_image = {_toml_str(lo.pause_image)}
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  disable_apparmor = true
  # Pod network namespaces are mounted under the node's state directory, not /run/netns,
  # so tearing the node down finds every one of them.
  netns_mounts_under_state_dir = true
  # Without CAP_SYS_RESOURCE (missing from some sandboxes' bounding set) no process may
  # lower its oom_score_adj, and runc fails the pause container's -998 with EACCES. This
  # clamps container scores at containerd's own (0) instead; see docs/realnode.md.
  restrict_oom_score_adj = {"true" if restrict_oom_score_adj() else "false"}

  [{cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [{cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [{cri}.containerd.runtimes.runc.options]
        BinaryName = {_toml_str(lo.runc)}
        Root = {_toml_str(lo.path("containerd", "runc"))}
        SystemdCgroup = false

  [{cri}.cni]
    bin_dir = {_toml_str(lo.cni_bin)}
    conf_dir = {_toml_str(lo.path("cni", "net.d"))}
    max_conf_num = 1

  [{cri}.registry]
    config_path = {_toml_str(lo.path("containerd", "certs.d"))}
"""


def registry_hosts(lo: NodeLayout) -> dict[str, str]:
    """``certs.d/<host>/hosts.toml`` files: the gateway registry over plain HTTP, and the
    same registry as the *only* source for docker.io names (a mirror with no fallback, so
    ``nginx:1.27`` resolves locally once pushed there and never reaches the internet); the
    auth registry over plain HTTP too (its login comes from the pod's pull secret, which
    the kubelet hands to containerd with the pull request)."""

    def hosts(server: str) -> str:
        url = f"http://{server}"
        entry = f'[host."{url}"]\n  capabilities = ["pull", "resolve"]\n  skip_verify = true\n'
        return f'server = "{url}"\n\n{entry}'

    return {
        lo.registry: hosts(lo.registry),
        "docker.io": hosts(lo.registry),
        lo.auth_registry: hosts(lo.auth_registry),
    }


def cni_config(lo: NodeLayout) -> dict[str, Any]:
    """A bridge network with host-local IPAM (state kept under the node's directory)."""
    return {
        "cniVersion": "1.0.0",
        "name": lo.cni_network,
        "plugins": [
            {
                "type": "bridge",
                "bridge": "cni0",
                "isGateway": True,
                "ipMasq": True,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": lo.pod_cidr}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(lo.path("cni", "ipam")),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def kubelet_config(lo: NodeLayout) -> dict[str, Any]:
    """KubeletConfiguration: certificate + webhook auth, cgroupfs under the node's cgroup,
    every path under the node's directory, a short lease like the simulated nodes'."""
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": lo.address,
        "port": KUBELET_PORT,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 10248,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(lo.ca_cert)},
        },
        "authorization": {"mode": "Webhook"},
        "containerRuntimeEndpoint": f"unix://{lo.containerd_socket}",
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": lo.cgroup,
        "cgroupsPerQOS": True,
        "enforceNodeAllocatable": ["pods"],
        "failSwapOn": False,
        "resolvConf": "/etc/resolv.conf",
        "clusterDomain": "cluster.local",
        "podLogsDir": str(lo.path("kubelet", "pod-logs")),
        "volumePluginDir": str(lo.path("kubelet", "volume-plugins")),
        "nodeLeaseDurationSeconds": NODE_LEASE_SECONDS,
        "nodeStatusUpdateFrequency": "5s",
        "serializeImagePulls": False,
        # Fetch a pod's Secrets when it starts instead of waiting (1 s at most) for a watch
        # cache to sync: on a busy 2-core machine that wait can time out and the kubelet
        # reports CreateContainerConfigError, which the reconciler takes as final.
        "configMapAndSecretChangeDetectionStrategy": "Get",
        "registerNode": True,
        # A dev machine's disk is shared with everything else: evict only when truly full.
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        "imageGCHighThresholdPercent": 99,
        "imageGCLowThresholdPercent": 98,
        "shutdownGracePeriod": "0s",
        "logging": {"format": "text"},
    }


def kube_proxy_config(lo: NodeLayout, kubeconfig: Path) -> dict[str, Any]:
    """KubeProxyConfiguration: iptables mode, NodePorts on the node's mesh address only,
    conntrack limits left to the kernel (they are not per network namespace)."""
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "hostnameOverride": lo.name,
        "bindAddress": lo.address,
        "healthzBindAddress": f"{lo.address}:10256",
        "metricsBindAddress": "127.0.0.1:10249",
        "mode": "iptables",
        "clusterCIDR": POD_NETWORK,
        "nodePortAddresses": [f"{lo.address}/32"],
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
        # Apply Service/endpoint changes at once: rollouts switch traffic without delay.
        "iptables": {"localhostNodePorts": False, "syncPeriod": "30s", "minSyncPeriod": "0s"},
    }
