"""Garbage collection: what deleted services and projects left in the cluster.

Deleting a project removes its rows at once; its namespace (and everything in it) goes here,
found by the ``meshploy.com/project-id`` label, so a crash between the two never orphans it
for good. A deleted service's objects go first, then its row.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from meshploy_core.kube import state
from meshploy_core.kube.adapter import KubeAdapter
from meshploy_core.kube.spec import LABEL_SERVICE
from meshploy_core.projects.models import Project
from meshploy_core.projects.projects import namespace_of
from meshploy_core.routing.models import Route
from meshploy_core.services.models import Service

log = logging.getLogger(__name__)
MANAGED = "app.kubernetes.io/managed-by=meshploy"


@dataclass
class GarbageCollector:
    """Deletes what no row wants any more."""

    sessions: async_sessionmaker[AsyncSession]
    kube: KubeAdapter

    async def collect(self) -> None:
        """Deleted services first, then namespaces of deleted projects."""
        await self._services()
        await self._namespaces()

    async def _namespaces(self) -> None:
        namespaces = await self.kube.list("v1", "Namespace", label_selector=MANAGED)
        if not namespaces:
            return
        async with self.sessions() as session:
            live = {str(pid) for pid in (await session.scalars(select(Project.id))).all()}
        for ns in namespaces:
            project_id = state.namespace_project_id(ns)
            if project_id and project_id not in live and not state.is_terminating(ns):
                await self.kube.delete("v1", "Namespace", state.name_of(ns))
                log.info("deleted namespace %s of project %s", state.name_of(ns), project_id)

    async def _services(self) -> None:
        async with self.sessions() as session:
            rows = (
                await session.execute(
                    select(Service, Project)
                    .join(Project, Project.id == Service.project_id)
                    .where(Service.deleted_at.is_not(None))
                )
            ).all()
        for service, project in rows:
            namespace = namespace_of(project)
            await self.kube.delete("apps/v1", "Deployment", service.name, namespace)
            await self.kube.delete("v1", "Service", service.name, namespace)
            for secret in await self.kube.list(
                "v1", "Secret", namespace, label_selector=f"{LABEL_SERVICE}={service.name}"
            ):
                await self.kube.delete("v1", "Secret", state.name_of(secret), namespace)
            async with self.sessions() as session:
                await session.execute(delete(Route).where(Route.service_id == service.id))
                await session.execute(delete(Service).where(Service.id == service.id))
                await session.commit()
            log.info("deleted service %s from namespace %s", service.name, namespace)
