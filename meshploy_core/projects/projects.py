"""Projects: groups of services inside an organization.

A project's slug is a DNS label unique within its organization; it later names the
project's Kubernetes namespace, so it never changes after creation (renaming changes the
display name only).
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from meshploy_core import audit
from meshploy_core.audit import Actor
from meshploy_core.db.base import utcnow
from meshploy_core.db.paging import Page, PageRequest, fetch_page
from meshploy_core.errors import Conflict, NotFound
from meshploy_core.kube.spec import namespace_for
from meshploy_core.names import slugify, validate_label
from meshploy_core.organizations.models import Organization
from meshploy_core.projects.models import Project


def _taken(slug: str) -> Conflict:
    return Conflict(
        f"this organization already has a project with slug {slug!r}; choose another slug"
    )


async def create_project(
    session: AsyncSession, actor: Actor, org_id: uuid.UUID, name: str, slug: str | None = None
) -> Project:
    """Create a project; without ``slug`` one is derived from ``name``."""
    slug = validate_label(slug) if slug is not None else slugify(name)
    exists = await session.scalar(
        select(Project.id).where(Project.org_id == org_id, Project.slug == slug)
    )
    if exists is not None:
        raise _taken(slug)
    project = Project(id=uuid.uuid4(), org_id=org_id, name=name, slug=slug, created_at=utcnow())
    session.add(project)
    try:
        await session.flush()
    except IntegrityError:
        raise _taken(slug) from None
    await audit.record(
        session,
        actor,
        "project.create",
        "project",
        project.id,
        org_id=org_id,
        details={"name": name, "slug": slug},
    )
    return project


async def list_projects(
    session: AsyncSession, org_id: uuid.UUID, page: PageRequest
) -> Page[Project]:
    """The organization's projects, oldest first."""
    query = select(Project).where(Project.org_id == org_id)
    return await fetch_page(
        session, query, [Project.created_at, Project.id], lambda p: (p.created_at, p.id), page
    )


async def get_project(session: AsyncSession, org_id: uuid.UUID, project_id: uuid.UUID) -> Project:
    """The project, if it belongs to ``org_id``; otherwise NotFound (never "forbidden")."""
    project = await session.scalar(
        select(Project).where(Project.id == project_id, Project.org_id == org_id)
    )
    if project is None:
        raise NotFound("no such project in this organization")
    return project


async def rename_project(
    session: AsyncSession, actor: Actor, org_id: uuid.UUID, project_id: uuid.UUID, name: str
) -> Project:
    """Change the display name (the slug, and so the namespace, stays)."""
    project = await get_project(session, org_id, project_id)
    old = project.name
    project.name = name
    await audit.record(
        session,
        actor,
        "project.rename",
        "project",
        project.id,
        org_id=org_id,
        details={"from": old, "to": name},
    )
    return project


async def delete_project(
    session: AsyncSession, actor: Actor, org_id: uuid.UUID, project_id: uuid.UUID
) -> None:
    """Delete the project and its services."""
    project = await get_project(session, org_id, project_id)
    await audit.record(
        session,
        actor,
        "project.delete",
        "project",
        project.id,
        org_id=org_id,
        details={"name": project.name, "slug": project.slug},
    )
    await session.delete(project)
    await session.flush()


async def get_project_and_org(
    session: AsyncSession, org_id: uuid.UUID, project_id: uuid.UUID
) -> tuple[Organization, Project]:
    """The project and its organization (deploys need both), else NotFound."""
    project = await get_project(session, org_id, project_id)
    org = await session.get(Organization, org_id)
    if org is None:
        raise NotFound("no such organization")
    return org, project


def namespace_of(project: Project) -> str:
    """The project's Kubernetes namespace (the one place that derives it from the row)."""
    return namespace_for(project.slug, project.id.hex)
