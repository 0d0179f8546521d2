"""What the reconciler works on: a deployment with its service, project and organization.

A :class:`Target` parses the deployment's spec snapshot and sealed environment once, when it
is loaded; the queries here are the only ones that decide which deployments are in play.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from meshploy_core.deploys.models import Deployment
from meshploy_core.kube.spec import WorkloadSpec
from meshploy_core.organizations.models import Organization
from meshploy_core.projects.models import Project
from meshploy_core.services.models import Service


@dataclass(frozen=True)
class Target:
    """One deployment and everything needed to apply or judge it."""

    deployment: Deployment
    service: Service
    project: Project
    org: Organization
    spec: WorkloadSpec
    env: dict[str, str]

    @classmethod
    def of(
        cls, deployment: Deployment, service: Service, project: Project, org: Organization
    ) -> Target:
        """Parse the snapshot (and decrypted environment) once."""
        raw = deployment.env_snapshot
        return cls(
            deployment=deployment,
            service=service,
            project=project,
            org=org,
            spec=WorkloadSpec.from_json(deployment.spec_snapshot),
            env=dict(json.loads(raw)) if raw else {},
        )

    @property
    def id(self) -> uuid.UUID:
        """The deployment's id."""
        return self.deployment.id

    def with_deployment(self, deployment: Deployment) -> Target:
        """Another deployment of the same service."""
        return Target.of(deployment, self.service, self.project, self.org)


async def with_status(session: AsyncSession, status: str) -> list[Target]:
    """Deployments of live services in ``status``, oldest first."""
    rows = await session.execute(
        select(Deployment, Service, Project, Organization)
        .join(Service, Service.id == Deployment.service_id)
        .join(Project, Project.id == Service.project_id)
        .join(Organization, Organization.id == Project.org_id)
        .where(Deployment.status == status, Service.deleted_at.is_(None))
        .order_by(Deployment.created_at)
    )
    return [Target.of(*row) for row in rows.all()]


async def current(session: AsyncSession) -> list[Target]:
    """For each live service, its most recent healthy deployment (what should run)."""
    latest: dict[uuid.UUID, Target] = {}
    for target in await with_status(session, "healthy"):
        seen = latest.get(target.service.id)
        finished = target.deployment.finished_at or target.deployment.created_at
        if seen is None or finished >= (seen.deployment.finished_at or seen.deployment.created_at):
            latest[target.service.id] = target
    return list(latest.values())


async def last_healthy(session: AsyncSession, target: Target) -> Target | None:
    """The service's last healthy deployment other than ``target`` (what to revert to)."""
    row = await session.scalar(
        select(Deployment)
        .where(
            Deployment.service_id == target.service.id,
            Deployment.status == "healthy",
            Deployment.id != target.id,
        )
        .order_by(Deployment.finished_at.desc())
        .limit(1)
    )
    return None if row is None else target.with_deployment(row)
