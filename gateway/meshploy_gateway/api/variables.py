"""``/api/v1/orgs/{org_id}/variable-groups``: shared, sealed environment variables; and a
service's groups and effective environment."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, Field
from quart import Blueprint
from quart_schema import validate_querystring, validate_request, validate_response

from meshploy_core.authorization.policy import requires
from meshploy_core.projects import projects
from meshploy_core.services import catalog
from meshploy_core.services.models import Service
from meshploy_core.variables import groups
from meshploy_core.variables.effective import effective_env, groups_of, values_of
from meshploy_core.variables.models import VariableGroup
from meshploy_core.web.context import actor, db
from meshploy_core.web.fields import Input
from meshploy_core.web.openapi import destructive, no_content, problems
from meshploy_core.web.pagination import Page, PageQuery, page_of, page_request
from meshploy_gateway.api.job_models import GroupName
from meshploy_gateway.api.service_models import MASK, DeploymentOut, EnvName, EnvValue, EnvVarOut

bp = Blueprint("variables", __name__, url_prefix="/api/v1/orgs/<uuid:org_id>")


class GroupIn(Input):
    """A new variable group: of the organization, or of one project (``project_id``)."""

    name: GroupName
    project_id: uuid.UUID | None = Field(
        None, strict=False, description="Only this project's services and jobs may use it."
    )
    variables: dict[EnvName, EnvValue] = Field(
        default_factory=dict, max_length=200, description="Stored encrypted; never returned."
    )


class GroupPatch(Input):
    """Variables to set and names to remove; a new name. Services using the group roll."""

    name: GroupName | None = None
    set: dict[EnvName, EnvValue] = Field(default_factory=dict, max_length=200)
    unset: list[EnvName] = Field(default_factory=list, max_length=200)


class GroupUserOut(BaseModel):
    """A service or job using the group."""

    kind: Literal["service", "job"]
    id: uuid.UUID
    project: str
    name: str


class GroupOut(BaseModel):
    """A variable group: its variables' names (values masked) and who uses it."""

    id: uuid.UUID
    org_id: uuid.UUID
    project_id: uuid.UUID | None
    name: str
    variables: list[EnvVarOut]
    used_by: list[GroupUserOut]

    @classmethod
    async def of(cls, group: VariableGroup) -> GroupOut:
        users = await groups.users_of(db(), group)
        return cls(
            id=group.id,
            org_id=group.org_id,
            project_id=group.project_id,
            name=group.name,
            variables=[EnvVarOut(name=n) for n in sorted(values_of(group))],
            used_by=[
                GroupUserOut(kind=u.kind, id=u.id, project=u.project_slug, name=u.name)
                for u in users
            ],
        )


class GroupChangeOut(BaseModel):
    """The changed group and the deployments queued for the services that use it."""

    group: GroupOut
    deployments: list[DeploymentOut]


class GroupQuery(PageQuery):
    """Filters."""

    name: GroupName | None = Field(None, description="Only the group with this name.")
    project_id: uuid.UUID | None = Field(None, description="Only this project's groups.")


@bp.get("/variable-groups")
@requires("variable:read")
@validate_querystring(GroupQuery)
@validate_response(Page[GroupOut])
async def list_variable_groups(org_id: uuid.UUID, query_args: GroupQuery) -> Page[GroupOut]:
    """The organization's variable groups (values masked), by name."""
    result = await groups.list_groups(
        db(),
        org_id,
        page_request(query_args),
        name=query_args.name,
        project_id=query_args.project_id,
    )
    outs = {g.id: await GroupOut.of(g) for g in result.items}
    return page_of(result, lambda g: outs[g.id])


@bp.post("/variable-groups")
@requires("variable:write")
@problems(409)
@validate_request(GroupIn)
@validate_response(GroupOut, 201)
async def create_variable_group(org_id: uuid.UUID, data: GroupIn) -> tuple[GroupOut, int]:
    """Create a variable group; attach it to services and jobs to use it."""
    session = db()
    project = (
        await projects.get_project(session, org_id, data.project_id) if data.project_id else None
    )
    group = await groups.create_group(
        session, actor(), org_id, project, data.name, dict(data.variables)
    )
    await session.commit()
    return await GroupOut.of(group), 201


@bp.get("/variable-groups/<uuid:group_id>")
@requires("variable:read")
@validate_response(GroupOut)
async def get_variable_group(org_id: uuid.UUID, group_id: uuid.UUID) -> GroupOut:
    """One variable group (values masked) and the services and jobs using it."""
    return await GroupOut.of(await groups.get_group(db(), org_id, group_id))


@bp.patch("/variable-groups/<uuid:group_id>")
@requires("variable:write")
@destructive
@problems(409)
@validate_request(GroupPatch)
@validate_response(GroupChangeOut)
async def update_variable_group(
    org_id: uuid.UUID, group_id: uuid.UUID, data: GroupPatch
) -> GroupChangeOut:
    """Set and unset variables; every deployed service using the group is redeployed (a
    recorded deployment each, so a rollback restores the old values). DESTRUCTIVE."""
    session = db()
    group = await groups.get_group(session, org_id, group_id)
    queued = await groups.update_group(
        session, actor(), group, values=dict(data.set), unset=list(data.unset), name=data.name
    )
    await session.commit()
    return GroupChangeOut(
        group=await GroupOut.of(group), deployments=[DeploymentOut.of(d) for d in queued]
    )


@bp.delete("/variable-groups/<uuid:group_id>")
@requires("variable:delete")
@problems(409)
@no_content
async def delete_variable_group(org_id: uuid.UUID, group_id: uuid.UUID) -> tuple[str, int]:
    """Delete an unused variable group (refused, naming its users, while attached)."""
    session = db()
    group = await groups.get_group(session, org_id, group_id)
    await groups.delete_group(session, actor(), group)
    await session.commit()
    return "", 204


SERVICE = "/projects/<uuid:project_id>/services/<uuid:service_id>"


class AttachIn(Input):
    """The groups a service uses, in order (later ones win; its own variables win over all)."""

    groups: list[GroupName] = Field(max_length=20)


class EffectiveVarOut(BaseModel):
    """One variable of the effective environment: masked, and where it comes from."""

    name: str
    value: Literal["********"] = MASK
    source: str = Field(description="`own` (the service's) or `group:<name>`.")


class EffectiveEnvOut(BaseModel):
    """What the service's next deploy will get."""

    groups: list[str]
    variables: list[EffectiveVarOut]


async def _effective(service: Service) -> EffectiveEnvOut:
    env = await effective_env(db(), catalog.env_of(service), service_id=service.id)
    names = [g.name for g in await groups_of(db(), service_id=service.id)]
    return EffectiveEnvOut(
        groups=names,
        variables=[EffectiveVarOut(name=k, source=env.sources[k]) for k in sorted(env.values)],
    )


@bp.put(f"{SERVICE}/variable-groups")
@requires("service:write")
@validate_request(AttachIn)
@validate_response(EffectiveEnvOut)
async def attach_variable_groups(
    org_id: uuid.UUID, project_id: uuid.UUID, service_id: uuid.UUID, data: AttachIn
) -> EffectiveEnvOut:
    """Set the service's variable groups, in order (applied at its next deploy)."""
    session = db()
    _, project = await projects.get_project_and_org(session, org_id, project_id)
    service = await catalog.get_service(session, project, service_id)
    await groups.set_service_groups(session, actor(), project, service, list(data.groups))
    await session.commit()
    return await _effective(service)


@bp.get(f"{SERVICE}/effective-env")
@requires("service:read")
@validate_response(EffectiveEnvOut)
async def effective_service_env(
    org_id: uuid.UUID, project_id: uuid.UUID, service_id: uuid.UUID
) -> EffectiveEnvOut:
    """The service's effective environment: groups in order, then its own variables; values
    masked, each with its source."""
    _, project = await projects.get_project_and_org(db(), org_id, project_id)
    return await _effective(await catalog.get_service(db(), project, service_id))
