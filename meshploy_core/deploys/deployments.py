"""Deployments: requesting, rolling back, cancelling, and reading their log.

A deployment row snapshots the service's full spec and environment at request time; the
reconciler (a separate process) applies it. Deploys of one service run one at a time: a new
request supersedes any older one still queued.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import uuid
from dataclasses import dataclass

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from meshploy_core import audit
from meshploy_core.audit import Actor
from meshploy_core.db.base import utcnow
from meshploy_core.db.paging import Page, PageRequest, fetch_page
from meshploy_core.deploys.models import Deployment, DeploymentEvent
from meshploy_core.errors import Conflict, NotFound, ValidationFailed
from meshploy_core.organizations.models import Organization
from meshploy_core.projects.models import Project
from meshploy_core.services.catalog import config_of, env_of, validate_config, workload_spec
from meshploy_core.services.models import Service
from meshploy_core.variables.effective import effective_env

ACTIVE = ("queued", "deploying")
FINAL = ("healthy", "failed", "cancelled", "superseded")
#: Wakes the reconciler at once instead of at its next poll.
DEPLOY_CHANNEL = "meshploy_deploys"


async def add_event(
    session: AsyncSession,
    deployment_id: uuid.UUID,
    message: str,
    *,
    source: str = "meshploy",
    level: str = "info",
    dedupe_key: str | None = None,
) -> None:
    """Append a log line (skipped if ``dedupe_key`` was already recorded)."""
    if dedupe_key is not None:
        seen = await session.scalar(
            select(DeploymentEvent.id).where(
                DeploymentEvent.deployment_id == deployment_id,
                DeploymentEvent.dedupe_key == dedupe_key,
            )
        )
        if seen is not None:
            return
    session.add(
        DeploymentEvent(
            deployment_id=deployment_id,
            source=source,
            level=level,
            message=message[:4000],
            dedupe_key=dedupe_key,
            created_at=utcnow(),
        )
    )


async def _supersede_queued(session: AsyncSession, service_id: uuid.UUID) -> list[uuid.UUID]:
    rows = await session.scalars(
        update(Deployment)
        .where(Deployment.service_id == service_id, Deployment.status == "queued")
        .values(
            status="superseded",
            finished_at=utcnow(),
            reason="a newer deploy of this service was requested",
        )
        .returning(Deployment.id)
    )
    return list(rows)


async def _notify(session: AsyncSession) -> None:
    # Delivered at commit (and dropped on rollback), like the row it announces.
    await session.execute(text(f"NOTIFY {DEPLOY_CHANNEL}"))


async def _enqueue(
    session: AsyncSession,
    actor: Actor,
    org: Organization,
    project: Project,
    service: Service,
    *,
    image: str,
    spec_json: dict[str, object],
    env: dict[str, str],
    rollback_of: uuid.UUID | None,
    action: str,
    reason: str | None = None,
) -> Deployment:
    # Serialise requests for one service so two concurrent deploys queue in a defined order.
    await session.execute(select(Service.id).where(Service.id == service.id).with_for_update())
    superseded = await _supersede_queued(session, service.id)
    deployment = Deployment(
        id=uuid.uuid4(),
        service_id=service.id,
        image=image,
        spec_snapshot=spec_json,
        env_snapshot=json.dumps(env),
        status="queued",
        triggered_by=actor.user_id,
        rollback_of=rollback_of,
        created_at=utcnow(),
    )
    session.add(deployment)
    await session.flush()
    note = f"queued {image}" + (f" (rollback to {rollback_of})" if rollback_of else "")
    if reason:
        note += f": {reason}"
    await add_event(session, deployment.id, note)
    for old in superseded:
        await add_event(session, old, f"superseded by deployment {deployment.id}")
    await audit.record(
        session,
        actor,
        action,
        "deployment",
        deployment.id,
        org_id=org.id,
        details={"service": service.name, "image": image},
    )
    await _notify(session)
    return deployment


async def request_deploy(
    session: AsyncSession,
    actor: Actor,
    org: Organization,
    project: Project,
    service: Service,
    image: str | None = None,
    *,
    reason: str | None = None,
) -> Deployment:
    """Queue a deploy of the service as configured now (optionally with a new image).

    The deployment snapshots the *effective* environment: the service's variable groups in
    order, then its own variables (:mod:`meshploy_core.variables`); ``reason`` goes into
    its log (``variable group shared changed``).
    """
    if service.deleted_at is not None:
        raise NotFound("no such service in this project")
    if image is not None and image != service.image:
        errors = validate_config(dataclasses.replace(config_of(service), image=image))
        if "image" in errors:
            raise ValidationFailed("the image is not valid", {"image": errors["image"]})
        service.image = image
        service.updated_at = utcnow()
        await session.flush()
    env = (await effective_env(session, env_of(service), service_id=service.id)).values
    spec = workload_spec(service, project, org, env_keys=sorted(env))
    return await _enqueue(
        session,
        actor,
        org,
        project,
        service,
        image=spec.image,
        spec_json=spec.to_json(),
        env=env,
        rollback_of=None,
        action="deployment.create",
        reason=reason,
    )


async def request_rollback(
    session: AsyncSession,
    actor: Actor,
    org: Organization,
    project: Project,
    service: Service,
    target: Deployment,
) -> Deployment:
    """Queue a new deployment re-applying ``target``'s snapshot (image and env as they were)."""
    if target.service_id != service.id:
        raise NotFound("no such deployment for this service")
    if target.status != "healthy":
        raise Conflict(
            f"deployment {target.id} ended {target.status}; roll back to one that was healthy"
        )
    env = json.loads(target.env_snapshot) if target.env_snapshot else {}
    return await _enqueue(
        session,
        actor,
        org,
        project,
        service,
        image=target.image,
        spec_json=dict(target.spec_snapshot),
        env=env,
        rollback_of=target.id,
        action="deployment.rollback",
    )


async def request_cancel(
    session: AsyncSession, actor: Actor, org: Organization, deployment: Deployment
) -> Deployment:
    """Cancel a queued deployment at once, or ask the reconciler to stop a running one."""
    if deployment.status not in ACTIVE:
        raise Conflict(f"deployment {deployment.id} already ended ({deployment.status})")
    if deployment.status == "queued":
        deployment.status = "cancelled"
        deployment.finished_at = utcnow()
        deployment.reason = "cancelled before it started"
        await add_event(session, deployment.id, "cancelled before it started")
    else:
        deployment.cancel_requested_at = utcnow()
        await add_event(session, deployment.id, "cancellation requested")
        await _notify(session)
    await session.flush()
    await audit.record(
        session, actor, "deployment.cancel", "deployment", deployment.id, org_id=org.id
    )
    return deployment


async def get_deployment(
    session: AsyncSession, org_id: uuid.UUID, deployment_id: uuid.UUID
) -> tuple[Deployment, Service, Project, Organization]:
    """A deployment of a service in organization ``org_id``, else NotFound."""
    row = (
        await session.execute(
            select(Deployment, Service, Project, Organization)
            .join(Service, Service.id == Deployment.service_id)
            .join(Project, Project.id == Service.project_id)
            .join(Organization, Organization.id == Project.org_id)
            .where(Deployment.id == deployment_id, Project.org_id == org_id)
        )
    ).first()
    if row is None:
        raise NotFound("no such deployment in this organization")
    return row[0], row[1], row[2], row[3]


async def list_deployments(
    session: AsyncSession, service: Service, page: PageRequest
) -> Page[Deployment]:
    """The service's deployments, newest first."""
    query = select(Deployment).where(Deployment.service_id == service.id)
    return await fetch_page(
        session,
        query,
        [Deployment.created_at, Deployment.id],
        lambda d: (d.created_at, d.id),
        page,
        descending=True,
    )


async def events_after(
    session: AsyncSession, deployment_id: uuid.UUID, after_id: int = 0, limit: int = 500
) -> list[DeploymentEvent]:
    """Log lines of a deployment after event id ``after_id``, oldest first."""
    rows = await session.scalars(
        select(DeploymentEvent)
        .where(DeploymentEvent.deployment_id == deployment_id, DeploymentEvent.id > after_id)
        .order_by(DeploymentEvent.id)
        .limit(limit)
    )
    return list(rows)


@dataclass(frozen=True)
class DeploymentLog:
    """A slice of a deployment's log: lines after a cursor, and whether it can grow."""

    deployment: Deployment
    lines: list[DeploymentEvent]
    next_after: int
    done: bool


#: How often a waiting log read looks for new lines.
LOG_POLL_SECONDS = 0.5


async def read_log(
    session: AsyncSession,
    org_id: uuid.UUID,
    deployment_id: uuid.UUID,
    *,
    after: int = 0,
    limit: int = 500,
    wait: float = 0.0,
) -> DeploymentLog:
    """Log lines after event id ``after``; with ``wait``, hold until one arrives, the
    deployment ends or ``wait`` seconds pass (a long poll, so ``--follow`` is a loop)."""
    deadline = time.monotonic() + wait
    while True:
        dep, *_ = await get_deployment(session, org_id, deployment_id)
        lines = await events_after(session, deployment_id, after, limit)
        ended = dep.status in FINAL
        if lines or ended or time.monotonic() >= deadline:
            break
        await session.rollback()  # end the snapshot so the next poll sees new rows
        await asyncio.sleep(LOG_POLL_SECONDS)
    return DeploymentLog(
        deployment=dep,
        lines=lines,
        next_after=lines[-1].id if lines else after,
        done=ended and len(lines) < limit,
    )
