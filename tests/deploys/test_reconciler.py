"""Deploys on the real test cluster (real API server, controllers and scheduler; kwok nodes)."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from kubernetes.aio.client import AppsV1Api

from meshploy_core.kube.spec import ANNOTATION_DEPLOYMENT
from meshploy_core.kube.state import node_addresses
from meshploy_core.services import catalog
from meshploy_core.testing.poll import eventually
from tests.fixtures.deploys import DOMAIN, DeployBed
from tests.fixtures.kube import KubeTestCluster


async def _live(bed: DeployBed, name: str = "api") -> dict[str, Any]:
    dep = await bed.kube.get("apps/v1", "Deployment", name, bed.namespace)
    assert dep is not None, f"Deployment {name} missing"
    return dep


async def _secret_env(bed: DeployBed, live: dict[str, Any]) -> dict[str, str]:
    container = live["spec"]["template"]["spec"]["containers"][0]
    name = container["envFrom"][0]["secretRef"]["name"]
    secret = await bed.kube.get("v1", "Secret", name, bed.namespace)
    assert secret is not None
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


async def test_deploy_to_healthy_with_objects_and_route(bed: DeployBed, worker: object) -> None:
    sid = await bed.create_service(
        env={"GREETING": "hello", "DB_PASSWORD": "s3cret-value"}, replicas=2
    )
    dep_id = await bed.deploy(sid)
    dep = await bed.wait_status(dep_id, "healthy", "failed")
    assert dep.status == "healthy", f"got {dep.status}: {dep.reason}"

    ns = await bed.kube.get("v1", "Namespace", bed.namespace)
    assert ns is not None and ns["metadata"]["labels"]["meshploy.com/project"] == "web"
    for kind, api in (
        ("ResourceQuota", "v1"),
        ("LimitRange", "v1"),
        ("NetworkPolicy", "networking.k8s.io/v1"),
    ):
        assert await bed.kube.get(
            api,
            kind,
            "meshploy-default" if kind != "NetworkPolicy" else "meshploy-isolate-project",
            bed.namespace,
        ), kind
    live = await _live(bed)
    assert live["status"]["readyReplicas"] == 2
    assert live["metadata"]["managedFields"][0]["manager"] == "meshploy"
    pod_spec = live["spec"]["template"]["spec"]
    assert "s3cret-value" not in str(pod_spec), "env values must not be inline in the pod spec"
    assert await _secret_env(bed, live) == {"GREETING": "hello", "DB_PASSWORD": "s3cret-value"}
    svc = await bed.kube.get("v1", "Service", "api", bed.namespace)
    assert svc is not None
    assert (svc["spec"]["type"], svc["spec"]["externalTrafficPolicy"]) == ("NodePort", "Local")

    hostname = f"api-web.{DOMAIN}"
    node_port = svc["spec"]["ports"][0]["nodePort"]
    pods = await bed.kube.list("v1", "Pod", bed.namespace)
    nodes = node_addresses(await bed.kube.list("v1", "Node"))
    want = sorted({nodes[p["spec"]["nodeName"]] for p in pods})

    async def route_ready() -> Any:
        route = await bed.route(hostname)
        return route if route and len(route.upstreams) == len(want) else None

    route = await eventually(route_ready, 20, "the route to list every node with a ready pod")
    assert route.upstreams == [{"host": h, "port": node_port} for h in want]
    log = await bed.log(dep_id)
    assert any(line.startswith("deploying nginx:1.27") for line in log), log
    assert any("ready" in line and line.startswith("pod ") for line in log), log
    assert log[-1].startswith("healthy: 2/2"), log


async def test_image_update_never_reduces_available_replicas(
    bed: DeployBed, worker: object
) -> None:
    sid = await bed.create_service(replicas=3, image="nginx:1.26")
    first = await bed.wait_status(await bed.deploy(sid), "healthy", "failed")
    assert first.status == "healthy", first.reason
    second_id = await bed.deploy(sid, image="nginx:1.27")
    lowest = 3
    while (await bed.deployment(second_id)).status in ("queued", "deploying"):
        status = (await _live(bed)).get("status", {})
        lowest = min(lowest, int(status.get("availableReplicas") or 0))
        await asyncio.sleep(0.05)
    second = await bed.deployment(second_id)
    assert second.status == "healthy", second.reason
    assert lowest == 3, f"available replicas dipped to {lowest} during the rollout"
    live = await _live(bed)
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    rsets = await bed.kube.list("apps/v1", "ReplicaSet", bed.namespace)
    old = [
        rs
        for rs in rsets
        if rs["spec"]["template"]["metadata"]["annotations"][ANNOTATION_DEPLOYMENT] == str(first.id)
    ]
    assert old and all(rs["spec"]["replicas"] == 0 for rs in old)


async def test_bad_image_fails_with_pull_reason_and_reverts(bed: DeployBed, worker: object) -> None:
    sid = await bed.create_service(image="nginx:1.27")
    good = await bed.wait_status(await bed.deploy(sid), "healthy", "failed")
    assert good.status == "healthy"
    bad = await bed.wait_status(
        await bed.deploy(sid, image="registry.invalid/nope:1"), "healthy", "failed"
    )
    assert bad.status == "failed"
    assert bad.reason and "image pull failed for registry.invalid/nope:1" in bad.reason
    assert "ImagePullBackOff" in bad.reason

    async def reverted() -> bool:
        live = await _live(bed)
        annotations = live["spec"]["template"]["metadata"]["annotations"]
        return bool(annotations[ANNOTATION_DEPLOYMENT] == str(good.id))

    await eventually(reverted, 20, "the cluster to run the last healthy deployment again")


async def test_crash_loop_fails_with_reason(bed: DeployBed, worker: object) -> None:
    sid = await bed.create_service(image="example.com/team/crashloop:2")
    dep = await bed.wait_status(await bed.deploy(sid), "healthy", "failed")
    assert dep.status == "failed"
    assert dep.reason and "crash-looping" in dep.reason and "last exit code 1" in dep.reason


async def test_rollback_restores_image_and_environment(bed: DeployBed, worker: object) -> None:
    sid = await bed.create_service(image="nginx:1.26", env={"MODE": "v1"})
    v1 = await bed.wait_status(await bed.deploy(sid), "healthy", "failed")
    await bed.set_env(sid, {"MODE": "v2"})
    v2 = await bed.wait_status(await bed.deploy(sid, image="nginx:1.27"), "healthy", "failed")
    assert v2.status == "healthy"
    assert await _secret_env(bed, await _live(bed)) == {"MODE": "v2"}

    back = await bed.wait_status(await bed.rollback(sid, v1.id), "healthy", "failed")
    assert back.status == "healthy" and back.rollback_of == v1.id
    live = await _live(bed)
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.26"
    assert await _secret_env(bed, live) == {"MODE": "v1"}


async def test_env_change_rolls_the_pods(bed: DeployBed, worker: object) -> None:
    sid = await bed.create_service(env={"A": "1"})
    first = await bed.wait_status(await bed.deploy(sid), "healthy", "failed")
    pods_before = {p["metadata"]["name"] for p in await bed.kube.list("v1", "Pod", bed.namespace)}
    await bed.set_env(sid, {"A": "2"})
    second = await bed.wait_status(await bed.deploy(sid), "healthy", "failed")
    assert second.status == "healthy" and first.status == "healthy"

    async def replaced() -> bool:
        pods = await bed.kube.list("v1", "Pod", bed.namespace)
        live = {p["metadata"]["name"] for p in pods if not p["metadata"].get("deletionTimestamp")}
        return bool(live) and not (live & pods_before)

    await eventually(replaced, 30, "every pod to be replaced after the env change")
    assert await _secret_env(bed, await _live(bed)) == {"A": "2"}


async def test_drift_is_repaired(bed: DeployBed, worker: object) -> None:
    sid = await bed.create_service(replicas=2)
    dep = await bed.wait_status(await bed.deploy(sid), "healthy", "failed")
    assert dep.status == "healthy"
    # A person scales it by hand (another field manager, a merge patch like kubectl's).
    await AppsV1Api(bed.kube.api).patch_namespaced_deployment(
        "api",
        bed.namespace,
        {"spec": {"replicas": 5}},
        field_manager="kubectl-edit",
        _content_type="application/merge-patch+json",
    )

    async def replicas_back() -> bool:
        return bool((await _live(bed))["spec"]["replicas"] == 2)

    await eventually(replicas_back, 20, "replicas edited by hand to be restored to 2")
    assert await bed.kube.delete("apps/v1", "Deployment", "api", bed.namespace)

    async def recreated() -> bool:
        live = await bed.kube.get("apps/v1", "Deployment", "api", bed.namespace)
        return live is not None and live["metadata"].get("deletionTimestamp") is None

    await eventually(recreated, 20, "a Deployment deleted by hand to be re-created")
    assert any("drift detected" in line for line in await bed.log(dep.id))


async def test_newer_deploy_supersedes_queued_and_cancel(bed: DeployBed) -> None:
    # No worker running: requests stay queued.
    sid = await bed.create_service()
    first = await bed.deploy(sid)
    second = await bed.deploy(sid)
    assert (await bed.deployment(first)).status == "superseded"
    async with bed.sessions() as s:
        from meshploy_core.audit import SYSTEM
        from meshploy_core.deploys import deployments
        from meshploy_core.deploys.models import Deployment

        dep = await s.get(Deployment, second)
        assert dep is not None
        await deployments.request_cancel(s, SYSTEM, bed.org, dep)
        await s.commit()
    assert (await bed.deployment(second)).status == "cancelled"


async def test_deleting_a_service_removes_objects_and_route(bed: DeployBed, worker: object) -> None:
    sid = await bed.create_service()
    assert (await bed.wait_status(await bed.deploy(sid), "healthy", "failed")).status == "healthy"
    hostname = f"api-web.{DOMAIN}"
    await eventually(lambda: bed.route(hostname), 20, "the route to appear")
    async with bed.sessions() as s:
        svc = await catalog.get_service(s, bed.project, sid)
        from meshploy_core.audit import SYSTEM

        await catalog.delete_service(s, SYSTEM, bed.project, svc)
        await s.commit()

    async def gone() -> bool:
        dep = await bed.kube.get("apps/v1", "Deployment", "api", bed.namespace)
        svc = await bed.kube.get("v1", "Service", "api", bed.namespace)
        secrets = await bed.kube.list(
            "v1", "Secret", bed.namespace, label_selector="meshploy.com/service=api"
        )
        return dep is None and svc is None and not secrets and await bed.route(hostname) is None

    await eventually(gone, 30, "the Deployment, Service, Secrets and route to be removed")


async def test_node_not_ready_leaves_the_route(
    bed: DeployBed, worker: object, kube_cluster: KubeTestCluster
) -> None:
    sid = await bed.create_service(replicas=4)
    assert (await bed.wait_status(await bed.deploy(sid), "healthy", "failed")).status == "healthy"
    hostname = f"api-web.{DOMAIN}"

    async def spread() -> Any:
        route = await bed.route(hostname)
        return route if route and len(route.upstreams) >= 2 else None

    route = await eventually(spread, 30, "pods on at least two nodes in the route")
    nodes = node_addresses(await bed.kube.list("v1", "Node"))
    victim_ip = route.upstreams[0]["host"]
    victim = next(name for name, ip in nodes.items() if ip == victim_ip)
    await asyncio.to_thread(kube_cluster.set_node_ready, victim, False)
    try:

        async def left() -> Any:
            r = await bed.route(hostname)
            return r if r and victim_ip not in {u["host"] for u in r.upstreams} else None

        after = await eventually(left, 30, f"{victim} ({victim_ip}) to leave the route")
        assert after.upstreams, "the other nodes must stay in the route"
    finally:
        await asyncio.to_thread(kube_cluster.set_node_ready, victim, True)


async def test_deleting_a_project_removes_its_namespace(bed: DeployBed, worker: object) -> None:
    sid = await bed.create_service()
    assert (await bed.wait_status(await bed.deploy(sid), "healthy", "failed")).status == "healthy"
    async with bed.sessions() as s:
        from meshploy_core.audit import SYSTEM
        from meshploy_core.projects import projects

        await projects.delete_project(s, SYSTEM, bed.org.id, bed.project.id)
        await s.commit()

    async def namespace_going() -> bool:
        ns = await bed.kube.get("v1", "Namespace", bed.namespace)
        return ns is None or bool(ns["metadata"].get("deletionTimestamp"))

    await eventually(
        namespace_going, 30, f"namespace {bed.namespace} to be deleted with its project"
    )
    assert await bed.route(f"api-web.{DOMAIN}") is None
