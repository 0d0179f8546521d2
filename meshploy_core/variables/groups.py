"""Variable groups of an organization or a project: create, read (values masked by the API),
change, delete, attach to services and jobs.

Changing a group's variables rolls every service that uses it and has been deployed: each
gets a new recorded deployment with the new effective environment, so a rollback restores
the old values. Jobs pick the change up at the reconciler's next pass (their CronJob is
re-applied). A group still in use cannot be deleted.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from meshploy_core import audit
from meshploy_core.audit import Actor
from meshploy_core.db.base import utcnow
from meshploy_core.db.paging import Page, PageRequest, fetch_page
from meshploy_core.deploys import deployments
from meshploy_core.deploys.models import Deployment
from meshploy_core.errors import Conflict, NotFound, ValidationFailed
from meshploy_core.jobs.models import Job
from meshploy_core.organizations.models import Organization
from meshploy_core.projects.models import Project
from meshploy_core.services.catalog import MAX_ENV_VALUE, MAX_ENV_VARS
from meshploy_core.services.models import Service
from meshploy_core.variables.effective import values_of
from meshploy_core.variables.models import VariableGroup, VariableGroupUse

NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_GROUPS = 20


def validate_variables(values: dict[str, str], field: str = "variables") -> dict[str, str]:
    """Per-variable problems (names only; values are never echoed)."""
    errors: dict[str, str] = {}
    if len(values) > MAX_ENV_VARS:
        errors[field] = f"at most {MAX_ENV_VARS} variables"
    for key, value in values.items():
        if not ENV_NAME.match(key) or len(key) > 256:
            errors[f"{field}.{key[:64]}"] = (
                "name must be letters, digits and _, not starting with a digit "
                "(Kubernetes refuses other environment variable names)"
            )
        elif len(value) > MAX_ENV_VALUE:
            errors[f"{field}.{key}"] = f"value must be at most {MAX_ENV_VALUE} bytes"
    return errors


def _name_problem(name: str) -> str | None:
    if not NAME.match(name):
        return "must be lower-case letters, digits and '-', starting with a letter (like shared-db)"
    return None


async def create_group(
    session: AsyncSession,
    actor: Actor,
    org_id: uuid.UUID,
    project: Project | None,
    name: str,
    variables: dict[str, str],
) -> VariableGroup:
    """A new group of the organization (or of ``project``)."""
    errors = validate_variables(variables)
    problem = _name_problem(name)
    if problem:
        errors["name"] = problem
    if errors:
        raise ValidationFailed("the variable group is not valid", errors)
    taken = await session.scalar(
        select(VariableGroup.id).where(VariableGroup.org_id == org_id, VariableGroup.name == name)
    )
    if taken is not None:
        raise Conflict(f"name: a variable group named {name!r} exists already; choose another")
    group = VariableGroup(
        id=uuid.uuid4(),
        org_id=org_id,
        project_id=project.id if project else None,
        name=name,
        variables=json.dumps(variables) if variables else None,
        created_at=utcnow(),
        updated_at=utcnow(),
    )
    session.add(group)
    await session.flush()
    await audit.record(
        session,
        actor,
        "variable_group.create",
        "variable_group",
        group.id,
        org_id=org_id,
        details={"name": name, "variables": sorted(variables)},
    )
    return group


async def get_group(session: AsyncSession, org_id: uuid.UUID, group_id: uuid.UUID) -> VariableGroup:
    """A group of the organization, else NotFound."""
    group = await session.scalar(
        select(VariableGroup).where(VariableGroup.id == group_id, VariableGroup.org_id == org_id)
    )
    if group is None:
        raise NotFound("no such variable group in this organization")
    return group


async def list_groups(
    session: AsyncSession,
    org_id: uuid.UUID,
    page: PageRequest,
    *,
    name: str | None = None,
    project_id: uuid.UUID | None = None,
) -> Page[VariableGroup]:
    """The organization's groups, by name (``project_id``: that project's only)."""
    query = select(VariableGroup).where(VariableGroup.org_id == org_id)
    if name is not None:
        query = query.where(VariableGroup.name == name)
    if project_id is not None:
        query = query.where(VariableGroup.project_id == project_id)
    return await fetch_page(session, query, [VariableGroup.name], lambda g: (g.name,), page)


@dataclass(frozen=True)
class GroupUser:
    """A service or job using a group."""

    kind: str
    id: uuid.UUID
    project_slug: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.project_slug}/{self.name}"


async def users_of(session: AsyncSession, group: VariableGroup) -> list[GroupUser]:
    """Every service and job the group is attached to."""
    found: list[GroupUser] = []
    services = await session.execute(
        select(Service.id, Project.slug, Service.name)
        .join(VariableGroupUse, VariableGroupUse.service_id == Service.id)
        .join(Project, Project.id == Service.project_id)
        .where(VariableGroupUse.group_id == group.id, Service.deleted_at.is_(None))
    )
    found += [GroupUser("service", i, p, n) for i, p, n in services.all()]
    jobs = await session.execute(
        select(Job.id, Project.slug, Job.name)
        .join(VariableGroupUse, VariableGroupUse.job_id == Job.id)
        .join(Project, Project.id == Job.project_id)
        .where(VariableGroupUse.group_id == group.id)
    )
    found += [GroupUser("job", i, p, n) for i, p, n in jobs.all()]
    return sorted(found, key=str)


async def update_group(
    session: AsyncSession,
    actor: Actor,
    group: VariableGroup,
    *,
    values: dict[str, str],
    unset: list[str],
    name: str | None = None,
) -> list[Deployment]:
    """Set and unset variables (and rename); roll the deployed services that use the group.

    Returns the deployments queued for them.
    """
    errors = validate_variables(values, "set")
    if name is not None and _name_problem(name):
        errors["name"] = str(_name_problem(name))
    current = values_of(group)
    missing = [k for k in unset if k not in current and k not in values]
    for key in missing:
        errors[f"unset.{key[:64]}"] = "not set in this group"
    if errors:
        raise ValidationFailed("the change is not valid", errors)
    if name is not None and name != group.name:
        taken = await session.scalar(
            select(VariableGroup.id).where(
                VariableGroup.org_id == group.org_id, VariableGroup.name == name
            )
        )
        if taken is not None:
            raise Conflict(f"name: a variable group named {name!r} exists already")
        group.name = name
    changed = dict(current)
    changed.update(values)
    for key in unset:
        changed.pop(key, None)
    errors = validate_variables(changed)
    if errors:
        raise ValidationFailed("the group would not be valid", errors)
    group.variables = json.dumps(changed) if changed else None
    group.updated_at = utcnow()
    await session.flush()
    await audit.record(
        session,
        actor,
        "variable_group.update",
        "variable_group",
        group.id,
        org_id=group.org_id,
        details={"set": sorted(values), "unset": sorted(unset)},
    )
    if changed == current:
        return []
    return await _roll_services(session, actor, group)


async def _roll_services(
    session: AsyncSession, actor: Actor, group: VariableGroup
) -> list[Deployment]:
    rows = await session.execute(
        select(Service, Project, Organization)
        .join(VariableGroupUse, VariableGroupUse.service_id == Service.id)
        .join(Project, Project.id == Service.project_id)
        .join(Organization, Organization.id == Project.org_id)
        .where(VariableGroupUse.group_id == group.id, Service.deleted_at.is_(None))
        .order_by(Service.name)
    )
    queued = []
    for service, project, org in rows.all():
        deployed = await session.scalar(
            select(Deployment.id).where(Deployment.service_id == service.id).limit(1)
        )
        if deployed is None:
            continue  # never deployed: it gets the new values at its first deploy
        queued.append(
            await deployments.request_deploy(
                session, actor, org, project, service, reason=f"variable group {group.name} changed"
            )
        )
    return queued


async def delete_group(session: AsyncSession, actor: Actor, group: VariableGroup) -> None:
    """Delete an unused group; refused (409, with the users named) while attached."""
    users = await users_of(session, group)
    if users:
        raise Conflict(
            f"variable group {group.name!r} is in use by {', '.join(map(str, users))}; "
            "detach it from them first"
        )
    await session.delete(group)
    await session.flush()
    await audit.record(
        session,
        actor,
        "variable_group.delete",
        "variable_group",
        group.id,
        org_id=group.org_id,
        details={"name": group.name},
    )


async def resolve_groups(
    session: AsyncSession, project: Project, names: list[str], field: str = "variable_groups"
) -> list[VariableGroup]:
    """The named groups, usable in ``project`` (organization groups or the project's own)."""
    errors: dict[str, str] = {}
    if len(names) > MAX_GROUPS:
        errors[field] = f"at most {MAX_GROUPS} groups"
    if len(set(names)) != len(names):
        errors[field] = "each group may be named once"
    found: list[VariableGroup] = []
    for index, name in enumerate(names):
        group = await session.scalar(
            select(VariableGroup).where(
                VariableGroup.org_id == project.org_id, VariableGroup.name == name
            )
        )
        if group is None:
            errors[f"{field}.{index}"] = f"no variable group named {name!r} in this organization"
        elif group.project_id not in (None, project.id):
            errors[f"{field}.{index}"] = f"group {name!r} belongs to another project"
        else:
            found.append(group)
    if errors:
        raise ValidationFailed("the variable groups are not valid", errors)
    return found


async def attach(
    session: AsyncSession,
    groups: list[VariableGroup],
    *,
    service_id: uuid.UUID | None = None,
    job_id: uuid.UUID | None = None,
) -> None:
    """Make ``groups`` (in this order) the groups of a service or job."""
    owner = (
        VariableGroupUse.service_id == service_id
        if service_id is not None
        else VariableGroupUse.job_id == job_id
    )
    await session.execute(delete(VariableGroupUse).where(owner))
    for position, group in enumerate(groups):
        session.add(
            VariableGroupUse(
                id=uuid.uuid4(),
                group_id=group.id,
                service_id=service_id,
                job_id=job_id,
                position=position,
            )
        )
    await session.flush()


async def set_service_groups(
    session: AsyncSession, actor: Actor, project: Project, service: Service, names: list[str]
) -> list[VariableGroup]:
    """Attach the named groups to ``service`` in order (applied at its next deploy)."""
    groups = await resolve_groups(session, project, names, "groups")
    await attach(session, groups, service_id=service.id)
    await audit.record(
        session,
        actor,
        "service.variable_groups.update",
        "service",
        service.id,
        org_id=project.org_id,
        details={"groups": names},
    )
    return groups
