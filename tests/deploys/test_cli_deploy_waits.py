"""End to end with the reconciler: ``meshploy service deploy`` waits for the real outcome.

The served API, a worker in this test's event loop and the test bed's Kubernetes control
plane: a deploy that becomes healthy exits 0, one whose image cannot be pulled exits 1 with
the reason, a rollback waits too, and the deployment's log can be read and followed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator

import pytest

from meshploy_core.client.http import ApiClient
from meshploy_core.deploys.reconciler import ReconcilerConfig
from meshploy_core.deploys.worker import run_worker
from meshploy_core.kube.adapter import KubeAdapter
from meshploy_core.kube.spec import namespace_for
from meshploy_core.settings import Settings
from tests.fixtures.cli import Cli, Owner
from tests.fixtures.kube import KubeTestCluster

pytestmark = pytest.mark.integration


@pytest.fixture
async def worker(api_settings: Settings, kube_cluster: KubeTestCluster) -> AsyncIterator[None]:
    """The reconciler worker on the served API's database, running during the test."""
    settings = dataclasses.replace(api_settings, kubeconfig=str(kube_cluster.kubeconfig_path))
    stop = asyncio.Event()
    fast = ReconcilerConfig(unschedulable_grace=2.0, drift_interval=0.5)
    task = asyncio.create_task(run_worker(settings, stop, interval=0.2, config=fast))
    yield
    stop.set()
    await asyncio.wait_for(task, 30)


async def test_deploy_waits_for_healthy_or_failed_and_rollback(
    cli: Cli,
    owner: Owner,
    owner_api: ApiClient,
    worker: None,
    kube_cluster: KubeTestCluster,
) -> None:
    project = await owner_api.create_project(name="Web", slug="web")
    env = {"MESHPLOY_API_URL": cli.api_url, "MESHPLOY_TOKEN": owner.token}
    try:
        (
            await cli.arun(
                "service",
                "create",
                "api",
                "--project",
                "web",
                "--image",
                "nginx:1.27",
                "--port",
                "80",
                env=env,
            )
        ).ok()

        # This served API has no KUBECONFIG: logs say so in one line (real logs: tests/realnode).
        nologs = await cli.arun("service", "logs", "api", "--project", "web", env=env)
        assert "has no Kubernetes cluster configured; set KUBECONFIG" in nologs.error()

        good = await cli.arun("service", "deploy", "api", "--project", "web", env=env)
        assert "is healthy (nginx:1.27)" in good.ok()
        assert "deploying api (nginx:1.27) as deployment" in good.err

        bad = await cli.arun(
            "service",
            "deploy",
            "api",
            "--project",
            "web",
            "--image",
            "registry.invalid/nope:1",
            env=env,
        )
        assert bad.code == 1 and not bad.out, bad.err
        last = bad.err.strip().splitlines()[-1]
        assert last.startswith("error: deployment ") and " failed: image pull failed" in last

        listed = (
            await cli.arun(
                "deployment", "list", "--project", "web", "--service", "api", "--json", env=env
            )
        ).json()["items"]
        assert [d["status"] for d in listed] == ["failed", "healthy"]
        healthy_id = listed[1]["id"]

        table = (
            await cli.arun("deployment", "list", "--project", "web", "--service", "api", env=env)
        ).ok()
        assert "failed" in table and "healthy" in table

        back = await cli.arun("deployment", "rollback", healthy_id, env=env)
        assert "is healthy (nginx:1.27)" in back.ok()

        log = (await cli.arun("deployment", "logs", healthy_id, env=env)).ok()
        assert "nginx:1.27" in log or "healthy" in log
        followed = await cli.arun(
            "deployment",
            "logs",
            "--project",
            "web",
            "--service",
            "api",
            "--follow",
            "--json",
            env=env,
        )
        lines = [json.loads(line) for line in followed.ok().splitlines()]
        assert lines and all({"id", "at", "message"} <= set(line) for line in lines)
    finally:
        adapter = await KubeAdapter.connect(str(kube_cluster.kubeconfig_path))
        try:
            await adapter.delete(
                "v1", "Namespace", namespace_for("web", project["id"].replace("-", ""))
            )
        finally:
            await adapter.close()
