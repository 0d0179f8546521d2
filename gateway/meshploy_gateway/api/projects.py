"""``/api/v1/orgs/{org_id}/projects``: projects inside an organization."""

from __future__ import annotations

import uuid

from pydantic import Field
from quart import Blueprint
from quart_schema import validate_querystring, validate_request, validate_response

from meshploy_core.authorization.policy import requires
from meshploy_core.projects import projects
from meshploy_core.web.context import actor, db
from meshploy_core.web.fields import Input, Name
from meshploy_core.web.openapi import no_content, problems
from meshploy_core.web.pagination import Page, PageQuery, page_of, page_request
from meshploy_gateway.api.models import ProjectOut, Slug

bp = Blueprint("projects", __name__, url_prefix="/api/v1/orgs/<uuid:org_id>/projects")


class ProjectIn(Input):
    """A new project. The slug names its Kubernetes namespace and never changes."""

    name: Name
    slug: Slug | None = Field(None, description="Unique in the organization; derived if absent.")


class ProjectPatch(Input):
    """A new display name (the slug stays)."""

    name: Name


@bp.get("")
@requires("project:read")
@validate_querystring(PageQuery)
@validate_response(Page[ProjectOut])
async def list_projects(org_id: uuid.UUID, query_args: PageQuery) -> Page[ProjectOut]:
    """The organization's projects."""
    result = await projects.list_projects(db(), org_id, page_request(query_args))
    return page_of(result, ProjectOut.of)


@bp.post("")
@requires("project:write")
@problems(409)
@validate_request(ProjectIn)
@validate_response(ProjectOut, 201)
async def create_project(org_id: uuid.UUID, data: ProjectIn) -> tuple[ProjectOut, int]:
    """Create a project."""
    session = db()
    project = await projects.create_project(session, actor(), org_id, data.name, data.slug)
    await session.commit()
    return ProjectOut.of(project), 201


@bp.get("/<uuid:project_id>")
@requires("project:read")
@validate_response(ProjectOut)
async def get_project(org_id: uuid.UUID, project_id: uuid.UUID) -> ProjectOut:
    """One project."""
    return ProjectOut.of(await projects.get_project(db(), org_id, project_id))


@bp.patch("/<uuid:project_id>")
@requires("project:write")
@validate_request(ProjectPatch)
@validate_response(ProjectOut)
async def rename_project(
    org_id: uuid.UUID, project_id: uuid.UUID, data: ProjectPatch
) -> ProjectOut:
    """Rename a project (its slug stays)."""
    session = db()
    project = await projects.rename_project(session, actor(), org_id, project_id, data.name)
    await session.commit()
    return ProjectOut.of(project)


@bp.delete("/<uuid:project_id>")
@requires("project:delete")
@no_content
async def delete_project(org_id: uuid.UUID, project_id: uuid.UUID) -> tuple[str, int]:
    """Delete a project and its services. DESTRUCTIVE."""
    session = db()
    await projects.delete_project(session, actor(), org_id, project_id)
    await session.commit()
    return "", 204
