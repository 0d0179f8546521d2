"""Render Kubernetes objects from desired state. Pure functions: no IO, snapshot-tested.

Applying them is a separate step (:mod:`meshploy_core.kube.adapter`).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from meshploy_core.kube.spec import (
    ANNOTATION_DEPLOYMENT,
    ANNOTATION_ENV_HASH,
    LABEL_ORG,
    LABEL_PROJECT,
    LABEL_PROJECT_ID,
    LABEL_SERVICE,
    MANAGED_BY,
    ROLE_LABEL,
    WorkloadSpec,
    env_hash,
)

Manifest = dict[str, Any]


@dataclass(frozen=True)
class ProjectDefaults:
    """Per-namespace guard rails applied to every project."""

    quota_pods: int = 50
    quota_requests_cpu: str = "8"
    quota_requests_memory: str = "16Gi"
    quota_limits_cpu: str = "16"
    quota_limits_memory: str = "32Gi"
    default_cpu_request: str = "50m"
    default_memory_request: str = "64Mi"
    default_cpu_limit: str = "1"
    default_memory_limit: str = "512Mi"
    pod_cidr: str = "10.42.0.0/16"


def _labels(org: str, project: str, service: str | None = None) -> dict[str, str]:
    labels = {
        "app.kubernetes.io/managed-by": MANAGED_BY,
        LABEL_ORG: org,
        LABEL_PROJECT: project,
    }
    if service:
        labels[LABEL_SERVICE] = service
        labels["app.kubernetes.io/name"] = service
    return labels


def project_manifests(
    org: str,
    project: str,
    namespace: str,
    project_id: str,
    defaults: ProjectDefaults | None = None,
) -> list[Manifest]:
    """Namespace, ResourceQuota, LimitRange and a NetworkPolicy isolating the project.

    The policy admits traffic from the project's own pods and from outside the cluster's
    pod network (the gateway's proxy reaching NodePorts over the mesh), never from other
    projects' pods.
    """
    d = defaults or ProjectDefaults()
    labels = _labels(org, project)
    meta = {"namespace": namespace, "labels": labels}
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            # The id lets the reconciler remove the namespace once the project is deleted.
            "metadata": {"name": namespace, "labels": {**labels, LABEL_PROJECT_ID: project_id}},
        },
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "meshploy-default", **meta},
            "spec": {
                "hard": {
                    "pods": str(d.quota_pods),
                    "requests.cpu": d.quota_requests_cpu,
                    "requests.memory": d.quota_requests_memory,
                    "limits.cpu": d.quota_limits_cpu,
                    "limits.memory": d.quota_limits_memory,
                }
            },
        },
        {
            "apiVersion": "v1",
            "kind": "LimitRange",
            "metadata": {"name": "meshploy-default", **meta},
            "spec": {
                "limits": [
                    {
                        "type": "Container",
                        "defaultRequest": {
                            "cpu": d.default_cpu_request,
                            "memory": d.default_memory_request,
                        },
                        "default": {
                            "cpu": d.default_cpu_limit,
                            "memory": d.default_memory_limit,
                        },
                    }
                ]
            },
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "meshploy-isolate-project", **meta},
            "spec": {
                "podSelector": {},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [
                            {"podSelector": {}},
                            {"ipBlock": {"cidr": "0.0.0.0/0", "except": [d.pod_cidr]}},
                        ]
                    }
                ],
            },
        },
    ]


def env_secret_name(service: str, env: dict[str, str]) -> str:
    """Name of the Secret holding ``env``; content-addressed so a change rolls the pods."""
    return f"{service}-env-{env_hash(env)}"


def env_secret(spec: WorkloadSpec, env: dict[str, str]) -> Manifest:
    """The Secret carrying the service's environment (values never go inline in the pod)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": env_secret_name(spec.service, env),
            "namespace": spec.namespace,
            "labels": _labels(spec.org_slug, spec.project_slug, spec.service),
        },
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in sorted(env.items())},
    }


def pull_secret_name(service: str) -> str:
    """Name of the image pull Secret of ``service`` (updated in place: no pod restarts)."""
    return f"{service}-registry"


def _docker_config_keys(server: str) -> list[str]:
    # Docker Hub's credentials are keyed by its historical index URL in docker config files.
    return ["https://index.docker.io/v1/", "docker.io"] if server == "docker.io" else [server]


def docker_config(server: str, username: str, password: str) -> str:
    """The base64 ``.dockerconfigjson`` value holding one login."""
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    entry = {"username": username, "password": password, "auth": auth}
    config = {"auths": {key: entry for key in _docker_config_keys(server)}}
    return base64.b64encode(json.dumps(config, sort_keys=True).encode()).decode()


def pull_secret(spec: WorkloadSpec, server: str, username: str, password: str) -> Manifest:
    """A ``kubernetes.io/dockerconfigjson`` Secret the kubelet pulls ``spec.image`` with."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/dockerconfigjson",
        "metadata": {
            "name": pull_secret_name(spec.service),
            "namespace": spec.namespace,
            "labels": _labels(spec.org_slug, spec.project_slug, spec.service),
        },
        "data": {".dockerconfigjson": docker_config(server, username, password)},
    }


def _probe(spec: WorkloadSpec, liveness: bool) -> Manifest | None:
    hc = spec.health_check
    if hc is None:
        return None
    return {
        "httpGet": {"path": hc.path, "port": hc.port or spec.port},
        "initialDelaySeconds": hc.initial_delay_seconds + (10 if liveness else 0),
        "periodSeconds": hc.period_seconds,
        "timeoutSeconds": hc.timeout_seconds,
        "failureThreshold": hc.failure_threshold,
    }


def _resources(spec: WorkloadSpec) -> Manifest:
    r = spec.resources
    out: dict[str, dict[str, str]] = {}
    for section, cpu, memory in (
        ("requests", r.cpu_request, r.memory_request),
        ("limits", r.cpu_limit, r.memory_limit),
    ):
        values = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
        if values:
            out[section] = values
    return out


def deployment(spec: WorkloadSpec, deployment_id: str, env: dict[str, str]) -> Manifest:
    """The Deployment: rolling update with ``maxUnavailable: 0``, env from a Secret.

    The deployment id is stamped on the pod template, so every deploy (even of the same
    image) produces a new ReplicaSet whose rollout can be tracked unambiguously.
    """
    labels = _labels(spec.org_slug, spec.project_slug, spec.service)
    selector = {LABEL_SERVICE: spec.service}
    container: Manifest = {
        "name": spec.service,
        "image": spec.image,
        # Always ask the registry (layers stay cached): with the default IfNotPresent, a pod
        # of another organization on a shared node could run a private image it has no
        # credentials for, because an earlier pull left it on the node.
        "imagePullPolicy": "Always",
        "ports": [{"name": "http", "containerPort": spec.port, "protocol": "TCP"}],
    }
    if spec.command:
        container["command"] = list(spec.command)
    if spec.args:
        container["args"] = list(spec.args)
    if env:
        container["envFrom"] = [{"secretRef": {"name": env_secret_name(spec.service, env)}}]
    resources = _resources(spec)
    if resources:
        container["resources"] = resources
    readiness, liveness = _probe(spec, liveness=False), _probe(spec, liveness=True)
    if readiness:
        container["readinessProbe"] = readiness
    if liveness:
        container["livenessProbe"] = liveness
    pod_spec: Manifest = {
        "containers": [container],
        "enableServiceLinks": False,
        "automountServiceAccountToken": False,
        # Builder nodes run builds; apps go elsewhere when any other node can take them.
        "affinity": {
            "nodeAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 100,
                        "preference": {
                            "matchExpressions": [
                                {"key": ROLE_LABEL, "operator": "NotIn", "values": ["builder"]}
                            ]
                        },
                    }
                ]
            }
        },
    }
    if spec.image_pull_secret:
        pod_spec["imagePullSecrets"] = [{"name": spec.image_pull_secret}]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": spec.service, "namespace": spec.namespace, "labels": labels},
        "spec": {
            "replicas": spec.replicas,
            "revisionHistoryLimit": 5,
            "progressDeadlineSeconds": spec.progress_deadline_seconds,
            # Without a readiness probe a container counts as available the moment it
            # starts; a few seconds let a crash-on-start show before the rollout completes.
            "minReadySeconds": 0 if spec.health_check else 3,
            "selector": {"matchLabels": selector},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": {
                        ANNOTATION_DEPLOYMENT: deployment_id,
                        ANNOTATION_ENV_HASH: env_hash(env),
                    },
                },
                "spec": pod_spec,
            },
        },
    }


def node_port_service(spec: WorkloadSpec) -> Manifest:
    """A NodePort Service with ``externalTrafficPolicy: Local``.

    Local keeps traffic on the node the proxy picked (only nodes running a ready pod answer),
    so the route's upstreams are exactly those nodes and no extra hop crosses the mesh.
    """
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": spec.service,
            "namespace": spec.namespace,
            "labels": _labels(spec.org_slug, spec.project_slug, spec.service),
        },
        "spec": {
            "type": "NodePort",
            "externalTrafficPolicy": "Local",
            "selector": {LABEL_SERVICE: spec.service},
            "ports": [{"name": "http", "port": 80, "targetPort": spec.port, "protocol": "TCP"}],
        },
    }


def service_manifests(
    spec: WorkloadSpec, deployment_id: str, env: dict[str, str]
) -> list[Manifest]:
    """Everything one service deploy applies, in apply order."""
    out = [env_secret(spec, env)] if env else []
    return [*out, deployment(spec, deployment_id, env), node_port_service(spec)]
