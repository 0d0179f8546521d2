"""The environment a service or job really gets: its variable groups in order, later groups
over earlier ones, its own variables over all groups; and where each value came from."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from meshploy_core.variables.models import VariableGroup, VariableGroupUse

OWN = "own"


def values_of(group: VariableGroup) -> dict[str, str]:
    """A group's variables, decrypted."""
    return dict(json.loads(group.variables)) if group.variables else {}


async def groups_of(
    session: AsyncSession, *, service_id: uuid.UUID | None = None, job_id: uuid.UUID | None = None
) -> list[VariableGroup]:
    """The groups attached to a service or job, in their order."""
    query = select(VariableGroup).join(
        VariableGroupUse, VariableGroupUse.group_id == VariableGroup.id
    )
    if service_id is not None:
        query = query.where(VariableGroupUse.service_id == service_id)
    else:
        query = query.where(VariableGroupUse.job_id == job_id)
    return list(await session.scalars(query.order_by(VariableGroupUse.position)))


@dataclass(frozen=True)
class EffectiveEnv:
    """Names to values, and names to where the value comes from (``own`` or a group)."""

    values: dict[str, str]
    sources: dict[str, str]


def merge(groups: list[VariableGroup], own: dict[str, str]) -> EffectiveEnv:
    """Groups in order (later wins), then ``own`` over everything."""
    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    for group in groups:
        for key, value in values_of(group).items():
            values[key], sources[key] = value, f"group:{group.name}"
    for key, value in own.items():
        values[key], sources[key] = value, OWN
    return EffectiveEnv(values, sources)


async def effective_env(
    session: AsyncSession,
    own: dict[str, str],
    *,
    service_id: uuid.UUID | None = None,
    job_id: uuid.UUID | None = None,
) -> EffectiveEnv:
    """The effective environment of a service or job whose own variables are ``own``."""
    return merge(await groups_of(session, service_id=service_id, job_id=job_id), own)
