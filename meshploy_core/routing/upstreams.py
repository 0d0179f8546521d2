"""Which nodes can serve a service.

An upstream is a Ready node that runs at least one ready, non-terminating pod of the
service, addressed by the node's InternalIP (its mesh IP) and the Service's NodePort. With
``externalTrafficPolicy: Local`` only those nodes answer on the NodePort.
"""

from __future__ import annotations

from typing import Any

from meshploy_core.kube.state import pod_is_ready, pod_node, pod_service


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
        if pod_service(pod) == service_name
        and pod_is_ready(pod)
        and (node := pod_node(pod)) is not None
        and node in ready_nodes
    }
    return [{"host": host, "port": port} for host in sorted(hosts)]
