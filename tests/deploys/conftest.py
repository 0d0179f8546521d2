"""Fixtures for deploy tests: a real PostgreSQL, the real test cluster and a running worker."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from meshploy_core.audit import SYSTEM
from meshploy_core.db.engine import session_factory
from meshploy_core.deploys import deployments
from meshploy_core.deploys.models import Deployment, DeploymentEvent
from meshploy_core.deploys.reconciler import ReconcilerConfig
from meshploy_core.deploys.worker import run_worker
from meshploy_core.kube.adapter import KubeAdapter
from meshploy_core.kube.spec import namespace_for
from meshploy_core.organizations.models import Organization
from meshploy_core.projects.models import Project
from meshploy_core.routing.models import Route
from meshploy_core.services import catalog
from meshploy_core.services.catalog import ServiceConfig
from meshploy_core.settings import Settings
from tests.fixtures.kube import KubeTestCluster

T = TypeVar("T")
DOMAIN = "meshploy.test"


async def poll(probe: Callable[[], Awaitable[T | None]], timeout: float, what: str) -> T:
    """Await ``probe()`` until truthy (no fixed sleeps); fail saying what was last seen."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = await probe()
        if last:
            return last
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}; last got {last!r}")
        await asyncio.sleep(0.1)


@dataclass
class DeployBed:
    """A project in a fresh org, with helpers to deploy and observe."""

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    kube: KubeAdapter
    org: Organization
    project: Project

    @property
    def namespace(self) -> str:
        return namespace_for(self.project.slug, self.project.id.hex)

    async def create_service(
        self, name: str = "api", env: dict[str, str] | None = None, **cfg: Any
    ) -> uuid.UUID:
        config = ServiceConfig(
            image=cfg.pop("image", "nginx:1.27"), port=cfg.pop("port", 8080), **cfg
        )
        async with self.sessions() as s:
            svc = await catalog.create_service(
                s, SYSTEM, self.project, name, config, env or {}, DOMAIN
            )
            await s.commit()
            return svc.id

    async def deploy(self, service_id: uuid.UUID, image: str | None = None) -> uuid.UUID:
        async with self.sessions() as s:
            svc = await catalog.get_service(s, self.project, service_id)
            dep = await deployments.request_deploy(s, SYSTEM, self.org, self.project, svc, image)
            await s.commit()
            return dep.id

    async def set_env(self, service_id: uuid.UUID, values: dict[str, str]) -> None:
        async with self.sessions() as s:
            svc = await catalog.get_service(s, self.project, service_id)
            await catalog.set_env(s, SYSTEM, self.project, svc, values)
            await s.commit()

    async def rollback(self, service_id: uuid.UUID, target: uuid.UUID) -> uuid.UUID:
        async with self.sessions() as s:
            svc = await catalog.get_service(s, self.project, service_id)
            dep = await s.get(Deployment, target)
            assert dep is not None
            new = await deployments.request_rollback(s, SYSTEM, self.org, self.project, svc, dep)
            await s.commit()
            return new.id

    async def deployment(self, deployment_id: uuid.UUID) -> Deployment:
        async with self.sessions() as s:
            dep = await s.get(Deployment, deployment_id)
            assert dep is not None
            return dep

    async def wait_status(
        self, deployment_id: uuid.UUID, *statuses: str, timeout: float = 60
    ) -> Deployment:
        async def probe() -> Deployment | None:
            dep = await self.deployment(deployment_id)
            return dep if dep.status in statuses else None

        return await poll(probe, timeout, f"deployment {deployment_id} to be {statuses}")

    async def log(self, deployment_id: uuid.UUID) -> list[str]:
        async with self.sessions() as s:
            rows = await s.scalars(
                select(DeploymentEvent.message)
                .where(DeploymentEvent.deployment_id == deployment_id)
                .order_by(DeploymentEvent.id)
            )
            return list(rows)

    async def route(self, hostname: str) -> Route | None:
        async with self.sessions() as s:
            route: Route | None = await s.scalar(select(Route).where(Route.hostname == hostname))
            return route


async def new_bed(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    kube: KubeAdapter,
    org_name: str = "Acme",
) -> DeployBed:
    """A fresh organization with a project ``web``, in this database and cluster."""
    slug = f"{org_name.lower()}-{uuid.uuid4().hex[:6]}"
    async with sessions() as s:
        org = Organization(id=uuid.uuid4(), name=org_name, slug=slug)
        s.add(org)
        await s.flush()
        project = Project(id=uuid.uuid4(), org_id=org.id, name="Web", slug="web")
        s.add(project)
        await s.commit()
    return DeployBed(settings, sessions, kube, org, project)


@pytest.fixture
async def kube_adapter(kube_cluster: KubeTestCluster) -> AsyncIterator[KubeAdapter]:
    adapter = await KubeAdapter.connect(str(kube_cluster.kubeconfig_path))
    yield adapter
    await adapter.close()


@pytest.fixture
async def bed(
    settings: Settings,
    engine: AsyncEngine,
    kube_cluster: KubeTestCluster,
    kube_adapter: KubeAdapter,
) -> AsyncIterator[DeployBed]:
    bed = await new_bed(
        replace(settings, kubeconfig=str(kube_cluster.kubeconfig_path)),
        session_factory(engine),
        kube_adapter,
    )
    yield bed
    await kube_adapter.delete("v1", "Namespace", bed.namespace)


FAST = ReconcilerConfig(unschedulable_grace=2.0, drift_interval=0.5)


@pytest.fixture
async def worker(bed: DeployBed) -> AsyncIterator[asyncio.Task[None]]:
    """A reconciler worker running in this process for the test's duration."""
    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(bed.settings, stop, interval=0.2, config=FAST))
    yield task
    stop.set()
    await asyncio.wait_for(task, 30)
