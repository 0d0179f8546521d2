"""``/api/v1/orgs/{org_id}/projects/{project_id}/services``: services, env, deploys."""

from __future__ import annotations

import uuid

from pydantic import Field
from quart import Blueprint
from quart_schema import validate_querystring, validate_request, validate_response

from meshploy_core.authorization.policy import requires
from meshploy_core.db.paging import Page as ServicePage
from meshploy_core.deploys import deployments
from meshploy_core.errors import NotFound
from meshploy_core.organizations.models import Organization
from meshploy_core.projects import projects
from meshploy_core.projects.models import Project
from meshploy_core.services import catalog
from meshploy_core.web.context import actor, db, settings
from meshploy_core.web.openapi import destructive, no_content, problems
from meshploy_core.web.pagination import Page, PageQuery, page_of, page_request
from meshploy_gateway.api.service_models import (
    DeployIn,
    DeploymentOut,
    EnvIn,
    EnvOut,
    ServiceIn,
    ServiceName,
    ServiceOut,
    ServiceSpecIn,
)

bp = Blueprint(
    "services",
    __name__,
    url_prefix="/api/v1/orgs/<uuid:org_id>/projects/<uuid:project_id>/services",
)


class ServiceQuery(PageQuery):
    """List filters: ``name`` finds one service by name."""

    name: ServiceName | None = Field(None, description="Only the service with this name.")


async def _project(org_id: uuid.UUID, project_id: uuid.UUID) -> tuple[Organization, Project]:
    return await projects.get_project_and_org(db(), org_id, project_id)


@bp.get("")
@requires("service:read")
@validate_querystring(ServiceQuery)
@validate_response(Page[ServiceOut])
async def list_services(
    org_id: uuid.UUID, project_id: uuid.UUID, query_args: ServiceQuery
) -> Page[ServiceOut]:
    """The project's services (``?name=`` finds one by name)."""
    _, project = await _project(org_id, project_id)
    if query_args.name is not None:
        try:
            found = [await catalog.find_service(db(), project, query_args.name)]
        except NotFound:
            found = []
        return page_of(ServicePage(items=found, next_key=None), ServiceOut.of)
    result = await catalog.list_services(db(), project, page_request(query_args))
    return page_of(result, ServiceOut.of)


@bp.post("")
@requires("service:write")
@problems(409)
@validate_request(ServiceIn)
@validate_response(ServiceOut, 201)
async def create_service(
    org_id: uuid.UUID, project_id: uuid.UUID, data: ServiceIn
) -> tuple[ServiceOut, int]:
    """Create a service (deploy it with the deploy operation)."""
    _, project = await _project(org_id, project_id)
    session = db()
    service = await catalog.create_service(
        session, actor(), project, data.name, data.config(), dict(data.env), settings().domain
    )
    await session.commit()
    return ServiceOut.of(service), 201


@bp.get("/<uuid:service_id>")
@requires("service:read")
@validate_response(ServiceOut)
async def get_service(
    org_id: uuid.UUID, project_id: uuid.UUID, service_id: uuid.UUID
) -> ServiceOut:
    """One service."""
    _, project = await _project(org_id, project_id)
    return ServiceOut.of(await catalog.get_service(db(), project, service_id))


@bp.put("/<uuid:service_id>")
@requires("service:write")
@problems(409)
@validate_request(ServiceSpecIn)
@validate_response(ServiceOut)
async def update_service(
    org_id: uuid.UUID, project_id: uuid.UUID, service_id: uuid.UUID, data: ServiceSpecIn
) -> ServiceOut:
    """Replace the service's configuration (applied at the next deploy)."""
    _, project = await _project(org_id, project_id)
    session = db()
    service = await catalog.get_service(session, project, service_id)
    await catalog.update_service(
        session, actor(), project, service, data.config(), settings().domain
    )
    await session.commit()
    return ServiceOut.of(service)


@bp.delete("/<uuid:service_id>")
@requires("service:delete")
@no_content
async def delete_service(
    org_id: uuid.UUID, project_id: uuid.UUID, service_id: uuid.UUID
) -> tuple[str, int]:
    """Delete a service: its pods, Kubernetes objects and route are removed. DESTRUCTIVE."""
    _, project = await _project(org_id, project_id)
    session = db()
    service = await catalog.get_service(session, project, service_id)
    await catalog.delete_service(session, actor(), project, service)
    await session.commit()
    return "", 204


@bp.get("/<uuid:service_id>/env")
@requires("service:read")
@validate_response(EnvOut)
async def get_env(org_id: uuid.UUID, project_id: uuid.UUID, service_id: uuid.UUID) -> EnvOut:
    """The service's environment variables (values masked)."""
    _, project = await _project(org_id, project_id)
    service = await catalog.get_service(db(), project, service_id)
    return EnvOut.of(list(catalog.env_of(service)))


@bp.patch("/<uuid:service_id>/env")
@requires("service:write")
@destructive
@validate_request(EnvIn)
@validate_response(EnvOut)
async def update_env(
    org_id: uuid.UUID, project_id: uuid.UUID, service_id: uuid.UUID, data: EnvIn
) -> EnvOut:
    """Set and unset environment variables (applied at the next deploy)."""
    _, project = await _project(org_id, project_id)
    session = db()
    service = await catalog.get_service(session, project, service_id)
    names = await catalog.set_env(
        session, actor(), project, service, dict(data.set), tuple(data.unset)
    )
    await session.commit()
    return EnvOut.of(names)


@bp.post("/<uuid:service_id>/deploy")
@requires("deployment:write")
@validate_request(DeployIn)
@validate_response(DeploymentOut, 202)
async def deploy_service(
    org_id: uuid.UUID, project_id: uuid.UUID, service_id: uuid.UUID, data: DeployIn
) -> tuple[DeploymentOut, int]:
    """Queue a deploy; follow it with the deployment's log or status."""
    org, project = await _project(org_id, project_id)
    session = db()
    service = await catalog.get_service(session, project, service_id)
    dep = await deployments.request_deploy(session, actor(), org, project, service, data.image)
    await session.commit()
    return DeploymentOut.of(dep), 202


class DeploymentQuery(PageQuery):
    """Page through a service's deployments, newest first."""


@bp.get("/<uuid:service_id>/deployments")
@requires("deployment:read")
@validate_querystring(DeploymentQuery)
@validate_response(Page[DeploymentOut])
async def list_deployments(
    org_id: uuid.UUID, project_id: uuid.UUID, service_id: uuid.UUID, query_args: DeploymentQuery
) -> Page[DeploymentOut]:
    """The service's deployments, newest first."""
    _, project = await _project(org_id, project_id)
    service = await catalog.get_service(db(), project, service_id)
    result = await deployments.list_deployments(db(), service, page_request(query_args))
    return page_of(result, DeploymentOut.of)
