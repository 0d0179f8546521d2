"""Which nodes can serve a service: pure functions over Kubernetes objects.

An upstream is a Ready node that runs at least one ready, non-terminating pod of the
service, addressed by the node's InternalIP (its mesh IP) and the Service's NodePort. With
``externalTrafficPolicy: Local`` only those nodes answer on the NodePort.
"""

from __future__ import annotations

from typing import Any

from meshploy_core.kube.spec import LABEL_SERVICE


def node_addresses(nodes: list[dict[str, Any]]) -> dict[str, str]:
    """``{node name: InternalIP}`` for every node whose Ready condition is True."""
    ready: dict[str, str] = {}
    for node in nodes:
        status = node.get("status") or {}
        is_ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in status.get("conditions") or []
        )
        if (node.get("spec") or {}).get("unschedulable") and not is_ready:
            continue
        ip = next(
            (
                a.get("address")
                for a in status.get("addresses") or []
                if a.get("type") == "InternalIP"
            ),
            None,
        )
        if is_ready and ip:
            ready[node["metadata"]["name"]] = ip
    return ready


def pod_is_ready(pod: dict[str, Any]) -> bool:
    """Ready condition True and not being deleted."""
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def node_port(service: dict[str, Any] | None) -> int | None:
    """The NodePort of the Service's first port, if assigned."""
    if not service:
        return None
    ports = (service.get("spec") or {}).get("ports") or []
    value = ports[0].get("nodePort") if ports else None
    return int(value) if value else None


def upstreams_for(
    service_name: str,
    pods: list[dict[str, Any]],
    ready_nodes: dict[str, str],
    port: int | None,
) -> list[dict[str, Any]]:
    """The route's upstream list, sorted so an unchanged set compares equal."""
    if port is None:
        return []
    hosts = {
        ready_nodes[node]
        for pod in pods
        if ((pod.get("metadata") or {}).get("labels") or {}).get(LABEL_SERVICE) == service_name
        and pod_is_ready(pod)
        and (node := (pod.get("spec") or {}).get("nodeName")) in ready_nodes
    }
    return [{"host": host, "port": port} for host in sorted(hosts)]
