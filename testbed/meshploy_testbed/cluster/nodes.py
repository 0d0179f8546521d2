"""Simulated nodes: the Node objects kwok animates, and taking one out of service on demand."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass, field
from typing import Any

from meshploy_testbed.cluster.api import JSON_MERGE_PATCH, ApiStatusError, KubeApi, poll_until

# kwok manages nodes carrying this annotation (its --manage-nodes-with-annotation-selector).
KWOK_MANAGED_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
# kwok leaves alone the status of nodes carrying this one (--disregard-status-with-...).
KWOK_DISREGARD_ANNOTATION = ("kwok.x-k8s.io/status", "custom")
ROLE_LABEL = "meshploy.com/role"
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
# Holder written into a node's Lease to stop kwok renewing it (kwok leaves others' leases be).
OUTAGE_HOLDER = "meshploy-simulated-outage"
MESH_NETWORK = ipaddress.ip_network("100.64.0.0/10")


@dataclass(frozen=True)
class SimulatedNode:
    """A node kwok simulates: no kubelet, no containers, but a real Node object.

    ``ip`` is the node's InternalIP; like a mesh address it must lie in 100.64.0.0/10.
    """

    name: str
    ip: str
    labels: dict[str, str] = field(default_factory=dict)
    cpu: str = "4"
    memory: str = "8Gi"
    max_pods: int = 110

    def __post_init__(self) -> None:
        if ipaddress.ip_address(self.ip) not in MESH_NETWORK:
            raise ValueError(f"node {self.name}: ip {self.ip} is not in {MESH_NETWORK}")

    def manifest(self) -> dict[str, Any]:
        """Return the Node object to create (status included: kwok keeps what is set)."""
        labels = {
            "kubernetes.io/hostname": self.name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "type": "kwok",
            **self.labels,
        }
        resources = {"cpu": self.cpu, "memory": self.memory, "pods": str(self.max_pods)}
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.name,
                "labels": labels,
                "annotations": {
                    KWOK_MANAGED_ANNOTATION[0]: KWOK_MANAGED_ANNOTATION[1],
                    "node.alpha.kubernetes.io/ttl": "0",
                },
            },
            "spec": {},
            "status": {
                "capacity": resources,
                "allocatable": resources,
                "addresses": [
                    {"type": "InternalIP", "address": self.ip},
                    {"type": "Hostname", "address": self.name},
                ],
                "nodeInfo": {
                    "architecture": "amd64",
                    "operatingSystem": "linux",
                    "kubeletVersion": "fake",
                    "kubeProxyVersion": "fake",
                    "containerRuntimeVersion": "kwok",
                    "osImage": "kwok",
                    "kernelVersion": "kwok",
                    "machineID": "",
                    "systemUUID": "",
                    "bootID": "",
                },
            },
        }


def node_condition(node: dict[str, Any], kind: str) -> str | None:
    """Return the status ("True"/"False"/"Unknown") of the node's ``kind`` condition."""
    for cond in node.get("status", {}).get("conditions") or []:
        if cond.get("type") == kind:
            return str(cond.get("status"))
    return None


def has_taint(node: dict[str, Any], key: str, effect: str | None = None) -> bool:
    """True if the node carries a taint with ``key`` (and ``effect``, if given)."""
    return any(
        t.get("key") == key and effect in (None, t.get("effect"))
        for t in node.get("spec", {}).get("taints") or []
    )


def pod_ready(pod: dict[str, Any]) -> bool:
    """True if the pod's Ready condition is True."""
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in pod.get("status", {}).get("conditions") or []
    )


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_is_down(node: dict[str, Any]) -> bool:
    """True once the node-lifecycle controller has taken the node out of service."""
    tainted = has_taint(node, NOT_READY_TAINT, "NoExecute") or has_taint(
        node, UNREACHABLE_TAINT, "NoExecute"
    )
    return tainted and node_condition(node, "Ready") != "True"


def node_is_up(node: dict[str, Any]) -> bool:
    """True when the node is Ready and carries neither not-ready nor unreachable taint."""
    tainted = has_taint(node, NOT_READY_TAINT) or has_taint(node, UNREACHABLE_TAINT)
    return not tainted and node_condition(node, "Ready") == "True"


def set_node_ready(api: KubeApi, name: str, ready: bool, timeout: float = 60.0) -> None:
    """Take simulated node ``name`` out of service (``ready=False``) or bring it back.

    Out of service means the node goes dark, as a machine that lost power or its mesh link:
    kwok stops writing its status (kwok's disregard annotation) and stops renewing its
    Lease (the Lease is handed to a fake holder, which kwok respects). After the
    node-monitor grace period the real node-lifecycle controller marks the node
    Ready=Unknown, taints it ``unreachable`` (NoSchedule, NoExecute) and marks its pods not
    ready, so they leave EndpointSlices. Returns once all of that has happened.

    Back in service: the annotation goes, the Lease is deleted so kwok renews a new one, kwok
    reports the node Ready, and (standing in for the kubelet, which would re-run readiness
    probes) the node's running pods are reported ready again. Returns once the taints are
    gone and those pods are Ready.
    """
    key, value = KWOK_DISREGARD_ANNOTATION
    node_path = f"/api/v1/nodes/{name}"
    lease_path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}"
    api.patch(
        node_path,
        {"metadata": {"annotations": {key: value if not ready else None}}},
        JSON_MERGE_PATCH,
    )
    if not ready:
        outage = {"spec": {"holderIdentity": OUTAGE_HOLDER, "leaseDurationSeconds": 86400}}
        api.patch(lease_path, outage, JSON_MERGE_PATCH)

        def down() -> bool:
            if not node_is_down(api.get(node_path)):
                return False
            return not any(pod_ready(p) for p in _running_pods_on(api, name))

        poll_until(down, timeout, f"node {name} to be taken out of service")
        return

    try:
        api.request("DELETE", lease_path)
    except ApiStatusError as exc:
        if exc.status != 404:
            raise
    poll_until(lambda: node_is_up(api.get(node_path)), timeout, f"node {name} to be Ready")
    _report_pods_ready(api, name)
    poll_until(
        lambda: all(pod_ready(p) for p in _running_pods_on(api, name)),
        timeout,
        f"pods on node {name} to be Ready again",
    )


def _running_pods_on(api: KubeApi, node_name: str) -> list[dict[str, Any]]:
    query = {"fieldSelector": f"spec.nodeName={node_name},status.phase=Running"}
    pods = api.get("/api/v1/pods", query=query)
    return [p for p in pods.get("items", []) if not p["metadata"].get("deletionTimestamp")]


def _report_pods_ready(api: KubeApi, node_name: str) -> None:
    now = _now()
    for pod in _running_pods_on(api, node_name):
        status = pod.get("status", {})
        meta = pod["metadata"]
        conditions = [
            {"type": kind, "status": "True", "lastTransitionTime": now}
            for kind in ("Ready", "ContainersReady")
        ]
        containers = [{**cs, "ready": True} for cs in status.get("containerStatuses") or []]
        api.patch(
            f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status",
            {"status": {"conditions": conditions, "containerStatuses": containers}},
        )


def standard_nodes(workers: int = 2, builders: int = 1) -> list[SimulatedNode]:
    """The usual simulated fleet: ``node-a``, ``node-b``, ... plus ``node-builder`` nodes.

    Builders carry ``meshploy.com/role=builder``. InternalIPs count up from 100.64.0.11.
    """
    if not 0 <= workers <= 26:
        raise ValueError("workers must be between 0 and 26")
    names = [f"node-{chr(ord('a') + i)}" for i in range(workers)]
    builder_names = ["node-builder" if i == 0 else f"node-builder-{i + 1}" for i in range(builders)]
    base = ipaddress.ip_address("100.64.0.11")
    fleet = [SimulatedNode(name, str(base + i)) for i, name in enumerate(names)]
    fleet += [
        SimulatedNode(name, str(base + workers + i), {ROLE_LABEL: "builder"})
        for i, name in enumerate(builder_names)
    ]
    return fleet
