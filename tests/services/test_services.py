"""Services and deployments through the API: validation, masking, conflicts, and a deploy
that a real worker carries out on the real test cluster."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from meshploy_core.app.factory import create_app
from meshploy_core.deploys.reconciler import ReconcilerConfig
from meshploy_core.deploys.worker import run_worker
from meshploy_core.kube.logs import decode_cursor
from meshploy_core.settings import Settings
from tests.fixtures.api import ApiClient, World
from tests.fixtures.kube import KubeTestCluster


async def _project(client: ApiClient, world: World) -> str:
    reply = await client.post(
        f"orgs/{world.org}/projects", token=world.owner.token, json={"name": "Shop", "slug": "shop"}
    )
    project_id: str = reply.ok(201)["id"]
    return project_id


def _services(world: World, project: str) -> str:
    return f"orgs/{world.org}/projects/{project}/services"


async def test_create_validates_every_field_with_clear_errors(
    client: ApiClient, world: World
) -> None:
    project = await _project(client, world)
    bad = await client.post(
        _services(world, project),
        token=world.owner.token,
        json={
            "name": "My_Api",
            "image": "nginx",
            "port": 70000,
            "resources": {"cpu_limit": "lots"},
            "health_check": {"path": "no-slash"},
        },
    )
    problem = bad.problem(422)
    fields = {e["field"] if isinstance(e, dict) else e for e in problem["errors"]}
    text = str(problem["errors"])
    for name in ("name", "port", "cpu_limit", "path"):
        assert name in text, f"no error for {name}: {problem['errors']}"
    assert fields
    # Nothing was created.
    listed = (await client.get(_services(world, project), token=world.owner.token)).ok()
    assert listed["items"] == []


async def test_env_is_masked_and_never_returned(client: ApiClient, world: World) -> None:
    project = await _project(client, world)
    secret = "postgres://app:hunter2-very-secret@db/app"
    client.tracker.add(secret, "env value")
    created = (
        await client.post(
            _services(world, project),
            token=world.owner.token,
            json={
                "name": "api",
                "image": "nginx:1.27",
                "port": 8080,
                "env": {"DATABASE_URL": secret},
            },
        )
    ).ok(201)
    assert created["env"] == [{"name": "DATABASE_URL", "value": "********"}]
    assert created["hostname"] == "api-shop.meshploy.test"
    env_url = f"{_services(world, project)}/{created['id']}/env"
    env = (
        await client.patch(
            env_url,
            token=world.members["developer"].token,
            json={"set": {"LOG_LEVEL": "debug"}, "unset": []},
        )
    ).ok()
    assert env["variables"] == [
        {"name": "DATABASE_URL", "value": "********"},
        {"name": "LOG_LEVEL", "value": "********"},
    ]
    missing = await client.patch(env_url, token=world.owner.token, json={"unset": ["NOPE"]})
    assert "NOPE" in missing.problem(422)["detail"]
    deploy = (
        await client.post(
            f"{_services(world, project)}/{created['id']}/deploy", token=world.owner.token, json={}
        )
    ).ok(202)
    assert deploy["status"] == "queued"
    assert {v["name"] for v in deploy["env"]} == {"DATABASE_URL", "LOG_LEVEL"}


async def test_conflicts_are_409(client: ApiClient, world: World) -> None:
    project = await _project(client, world)
    body = {"name": "web", "image": "nginx:1.27", "port": 80}
    (await client.post(_services(world, project), token=world.owner.token, json=body)).ok(201)
    again = await client.post(_services(world, project), token=world.owner.token, json=body)
    assert "already has a service named 'web'" in again.problem(409)["detail"]
    clash = await client.post(
        _services(world, project),
        token=world.owner.token,
        json={**body, "name": "other", "hostname": "web-shop.meshploy.test"},
    )
    assert "already in use" in clash.problem(409)["detail"]
    foreign = await client.post(
        _services(world, project),
        token=world.owner.token,
        json={**body, "name": "third", "hostname": "www.example.com"},
    )
    assert "must be under meshploy.test" in foreign.problem(422)["detail"]


async def test_deployments_list_newest_first_and_supersede(client: ApiClient, world: World) -> None:
    project = await _project(client, world)
    svc = (
        await client.post(
            _services(world, project),
            token=world.owner.token,
            json={"name": "api", "image": "nginx:1.27", "port": 80},
        )
    ).ok(201)
    base = f"{_services(world, project)}/{svc['id']}"
    first = (await client.post(f"{base}/deploy", token=world.owner.token, json={})).ok(202)
    second = (
        await client.post(f"{base}/deploy", token=world.owner.token, json={"image": "nginx:1.28"})
    ).ok(202)
    listed = (await client.get(f"{base}/deployments", token=world.owner.token)).ok()
    assert [d["id"] for d in listed["items"]] == [second["id"], first["id"]]
    assert [d["status"] for d in listed["items"]] == ["queued", "superseded"]
    assert listed["items"][0]["image"] == "nginx:1.28"
    log = (
        await client.get(
            f"orgs/{world.org}/deployments/{first['id']}/logs", token=world.owner.token
        )
    ).ok()
    assert log["done"] is True and log["status"] == "superseded"
    assert [line["message"] for line in log["items"]][-1].startswith("superseded by")
    cancelled = (
        await client.post(
            f"orgs/{world.org}/deployments/{second['id']}/cancel", token=world.owner.token
        )
    ).ok()
    assert cancelled["status"] == "cancelled"
    again = await client.post(
        f"orgs/{world.org}/deployments/{second['id']}/cancel", token=world.owner.token
    )
    again.problem(409)


async def _wait_status(client: ApiClient, world: World, dep: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        body = (
            await client.get(f"orgs/{world.org}/deployments/{dep}", token=world.owner.token)
        ).ok()
        if body["status"] not in ("queued", "deploying"):
            return body
        if time.monotonic() > deadline:
            pytest.fail(f"deployment {dep} still {body['status']} after {timeout}s")
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def _worker(api_settings: Settings, kube_cluster: KubeTestCluster) -> AsyncIterator[Settings]:
    """A reconciler worker on the API's database and the test cluster, for the block."""
    settings = dataclasses.replace(api_settings, kubeconfig=str(kube_cluster.kubeconfig_path))
    stop = asyncio.Event()
    worker = asyncio.create_task(
        run_worker(settings, stop, interval=0.2, config=ReconcilerConfig(unschedulable_grace=2))
    )
    try:
        yield settings
    finally:
        stop.set()
        await asyncio.wait_for(worker, 30)


async def _service(client: ApiClient, world: World, project: str, **spec: Any) -> str:
    """Create service ``api`` with ``spec``; its URL path."""
    svc = (
        await client.post(
            _services(world, project), token=world.owner.token, json={"name": "api", **spec}
        )
    ).ok(201)
    return f"{_services(world, project)}/{svc['id']}"


async def test_deploy_and_rollback_through_the_api_with_a_worker(
    client: ApiClient, world: World, api_settings: Settings, kube_cluster: KubeTestCluster
) -> None:
    async with _worker(api_settings, kube_cluster):
        project = await _project(client, world)
        base = await _service(client, world, project, image="nginx:1.26", port=80)
        v1 = (
            await client.post(f"{base}/deploy", token=world.members["developer"].token, json={})
        ).ok(202)
        # Follow the log the way the CLI does: long-poll until done.
        after, lines, done = 0, [], False
        while not done:
            page = (
                await client.get(
                    f"orgs/{world.org}/deployments/{v1['id']}/logs",
                    token=world.owner.token,
                    query={"after": str(after), "wait": "5"},
                )
            ).ok()
            lines += [item["message"] for item in page["items"]]
            after, done = page["next_after"], page["done"]
        assert page["status"] == "healthy", lines
        assert any(line.startswith("pod ") for line in lines), lines
        v2 = (
            await client.post(
                f"{base}/deploy",
                token=world.owner.token,
                json={"image": "registry.invalid/missing:2"},
            )
        ).ok(202)
        failed = await _wait_status(client, world, v2["id"])
        assert failed["status"] == "failed" and "image pull failed" in failed["reason"]
        back = (
            await client.post(
                f"orgs/{world.org}/deployments/{v1['id']}/rollback", token=world.owner.token
            )
        ).ok(202)
        assert back["rollback_of"] == v1["id"] and back["image"] == "nginx:1.26"
        assert (await _wait_status(client, world, back["id"]))["status"] == "healthy"
        viewer = await client.post(
            f"orgs/{world.org}/deployments/{v1['id']}/rollback", token=world.members["viewer"].token
        )
        viewer.problem(403)


async def test_logs_of_simulated_pods_are_listed_as_unavailable_with_the_reason(
    client: ApiClient, world: World, api_settings: Settings, kube_cluster: KubeTestCluster
) -> None:
    # kwok nodes run nothing and serve no kubelet API, so the API server cannot fetch their
    # pods' output: the answer is still 200, naming each pod and why (the real kubelet path
    # is tests/realnode/test_service_logs.py).
    async with _worker(api_settings, kube_cluster) as settings:
        project = await _project(client, world)
        base = await _service(client, world, project, image="nginx:1.26", port=80, replicas=2)
        dep = (await client.post(f"{base}/deploy", token=world.owner.token, json={})).ok(202)
        assert (await _wait_status(client, world, dep["id"]))["status"] == "healthy"
    served = create_app(settings)  # the same database, and a cluster to read logs from
    async with served.test_app():
        kube_client = ApiClient(served, client.tracker)
        started = time.monotonic()
        page = (
            await kube_client.get(
                f"{base}/logs", token=world.members["developer"].token, query={"tail": "10"}
            )
        ).ok()
        elapsed = time.monotonic() - started
        viewer = await kube_client.get(f"{base}/logs", token=world.members["viewer"].token)
    assert page["items"] == [] and decode_cursor(page["next_after"]) == {}
    assert len(page["unavailable"]) == 2, page
    for pod in page["unavailable"]:
        assert pod["pod"].startswith("api-"), pod
        # The API server's message, not its Status JSON.
        assert pod["reason"].startswith(f"logs of pod {pod['pod']}: HTTP 404: "), pod
        assert "could not find" in pod["reason"] and "{" not in pod["reason"], pod
    assert elapsed < 20, f"reading two unreachable pods took {elapsed:.1f} s: {page}"
    viewer.problem(403)
