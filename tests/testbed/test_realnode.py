"""A real kubelet runs what Meshploy renders: probes, NodePorts, crash loops, pull errors.

Everything here runs for real on ``real-1``: containerd pulls from the test bed's registry,
runc starts the container, the kubelet probes it over the CNI bridge, kube-proxy's iptables
rules carry ``<node address>:<NodePort>`` to the pod.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from meshploy_testbed.realnode import hostnet

from meshploy_core.kube import manifests
from meshploy_core.kube.adapter import KubeAdapter
from meshploy_core.kube.rollout import Phase, RolloutVerdict, evaluate
from meshploy_core.kube.spec import HealthCheck, WorkloadSpec
from meshploy_core.testing.poll import eventually
from tests.fixtures.realnode import REAL_NODE, RealBed, timing

#: Real containers on the real-node cluster (``kube_cluster`` is that cluster here).
pytestmark = pytest.mark.realnode


def _spec(namespace: str, image: str, **overrides: Any) -> WorkloadSpec:
    values: dict[str, Any] = {
        "org_slug": "acme",
        "project_slug": "web",
        "namespace": namespace,
        "service": "hello",
        "image": image,
        "port": 8080,
        "health_check": HealthCheck(path="/healthz", period_seconds=1, timeout_seconds=1),
        "progress_deadline_seconds": 120,
    }
    values.update(overrides)
    return WorkloadSpec(**values)


async def _apply(kube: KubeAdapter, spec: WorkloadSpec, env: dict[str, str]) -> str:
    deployment_id = str(uuid.uuid4())
    for manifest in manifests.service_manifests(spec, deployment_id, env):
        await kube.apply(manifest)
    return deployment_id


async def _verdict(kube: KubeAdapter, spec: WorkloadSpec, deployment_id: str) -> RolloutVerdict:
    deployment = await kube.get("apps/v1", "Deployment", spec.service, spec.namespace)
    pods = await kube.list("v1", "Pod", spec.namespace)
    return evaluate(deployment, pods, deployment_id, datetime.now(UTC))


async def _wait_verdict(
    kube: KubeAdapter, spec: WorkloadSpec, deployment_id: str, phase: Phase, timeout: float
) -> RolloutVerdict:
    async def settled() -> RolloutVerdict | None:
        verdict = await _verdict(kube, spec, deployment_id)
        return verdict if verdict.phase is not Phase.PROGRESSING else None

    verdict = await eventually(settled, timeout, f"the rollout of {spec.image} to settle")
    assert verdict is not None and verdict.phase is phase, f"got {verdict}, want {phase}"
    return verdict


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=2.0)
    except httpx.HTTPError:
        return None


async def test_real_node_registers_with_its_mesh_address(
    real_bed: RealBed, kube_adapter: KubeAdapter
) -> None:
    node = await kube_adapter.get("v1", "Node", REAL_NODE)
    assert node is not None
    addresses = {a["type"]: a["address"] for a in node["status"]["addresses"]}
    assert addresses["InternalIP"] == real_bed.node.address
    assert real_bed.node.address.startswith("100.65.")
    info = node["status"]["nodeInfo"]
    assert info["kubeletVersion"] == "v1.34.4"
    assert info["containerRuntimeVersion"].startswith("containerd://1.")
    assert node["metadata"]["labels"]["meshploy.com/real-node"] == "true"
    assert node["metadata"]["labels"]["meshploy.com/zone"] == "test"
    assert "kwok.x-k8s.io/node" not in (node["metadata"].get("annotations") or {})


async def test_rendered_deployment_becomes_ready_by_the_kubelets_probe_and_serves(
    real_bed: RealBed, kube_adapter: KubeAdapter, real_namespace: str
) -> None:
    spec = _spec(real_namespace, real_bed.app_v1)
    started = time.monotonic()
    deployment_id = await _apply(kube_adapter, spec, {"GREETING": "hello from a real pod"})
    verdict = await _wait_verdict(kube_adapter, spec, deployment_id, Phase.COMPLETE, 90)
    timing("rendered Deployment applied to rollout complete", time.monotonic() - started)
    assert verdict.ready == 1

    (pod,) = await kube_adapter.list("v1", "Pod", real_namespace)
    assert pod["spec"]["nodeName"] == REAL_NODE
    status = pod["status"]
    (container,) = status["containerStatuses"]
    assert container["ready"] and "running" in container["state"]
    assert container["imageID"].startswith(f"{real_bed.registry}/meshploy/testapp@sha256:")
    assert status["podIP"].startswith("100.96.")
    assert status["hostIP"] == real_bed.node.address

    svc = await kube_adapter.get("v1", "Service", "hello", real_namespace)
    assert svc is not None
    url = f"http://{real_bed.node.address}:{svc['spec']['ports'][0]['nodePort']}/"

    async def page() -> httpx.Response | None:
        response = _get(url)
        return response if response is not None and response.status_code == 200 else None

    response = await eventually(page, 30, f"GET {url} through kube-proxy")
    assert response is not None
    timing("rendered Deployment applied to first 200 on the NodePort", time.monotonic() - started)
    assert "meshploy test app v1" in response.text
    assert "GREETING=hello from a real pod" in response.text
    assert f"pod={pod['metadata']['name']}" in response.text


async def test_failing_readiness_probe_keeps_the_pod_out_of_service(
    real_bed: RealBed, kube_adapter: KubeAdapter, real_namespace: str
) -> None:
    spec = _spec(real_namespace, real_bed.app_v1, health_check=HealthCheck(path="/missing"))
    deployment_id = await _apply(kube_adapter, spec, {})

    async def probe_failed() -> list[dict[str, Any]]:
        events = await kube_adapter.list("v1", "Event", real_namespace)
        return [e for e in events if e.get("reason") == "Unhealthy"]

    (event, *_) = await eventually(probe_failed, 60, "the kubelet to report a failed probe")
    assert "Readiness probe failed: HTTP probe failed with statuscode: 404" in event["message"]
    (pod,) = await kube_adapter.list("v1", "Pod", real_namespace)
    (container,) = pod["status"]["containerStatuses"]
    assert "running" in container["state"] and not container["ready"]
    verdict = await _verdict(kube_adapter, spec, deployment_id)
    assert verdict.phase is Phase.PROGRESSING and verdict.ready == 0, verdict


async def test_crash_loop_is_reported_by_the_real_kubelet(
    real_bed: RealBed, kube_adapter: KubeAdapter, real_namespace: str
) -> None:
    spec = _spec(real_namespace, real_bed.crashloop)
    deployment_id = await _apply(kube_adapter, spec, {})
    verdict = await _wait_verdict(kube_adapter, spec, deployment_id, Phase.FAILED, 90)
    assert verdict.reason == "crash_loop", verdict
    assert "crash-looping" in verdict.message and "last exit code 1" in verdict.message


async def test_image_missing_from_the_registry_fails_with_the_pull_reason(
    real_bed: RealBed, kube_adapter: KubeAdapter, real_namespace: str
) -> None:
    image = f"{real_bed.registry}/meshploy/never-pushed:1"
    spec = _spec(real_namespace, image, health_check=None)
    deployment_id = await _apply(kube_adapter, spec, {})
    verdict = await _wait_verdict(kube_adapter, spec, deployment_id, Phase.FAILED, 90)
    assert verdict.reason == "image_pull", verdict
    assert image in verdict.message and "not found" in verdict.message


async def test_second_real_node_joins_and_leaves_nothing_behind(
    real_bed: RealBed, kube_adapter: KubeAdapter
) -> None:
    real = real_bed.cluster.real_nodes
    started = time.monotonic()
    node = real.add("real-2")
    timing("second real node start to Ready", time.monotonic() - started)
    netns, directory = node.netns, Path(node.record.directory)
    assert node.address != real_bed.node.address
    assert (hostnet.NETNS_DIR / netns).exists()
    assert hostnet.cgroup_pids(node.layout.cgroup), "containerd, kubelet, kube-proxy run"

    real.remove("real-2")
    assert not (hostnet.NETNS_DIR / netns).exists()
    assert hostnet.mounts_under(directory) == []
    assert hostnet.cgroup_pids(node.layout.cgroup) == set()
    assert not any(
        (h / node.layout.cgroup.strip("/")).exists() for h in hostnet.cgroup_hierarchies()
    )

    async def node_gone() -> bool:
        return await kube_adapter.get("v1", "Node", "real-2") is None

    await eventually(node_gone, 10, "the Node object real-2 to be deleted")
