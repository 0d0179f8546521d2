"""The audit log: every write records who, what, which resource, when and from where.

Services call :func:`record` in the same transaction as the change it describes, so the log
and the data never disagree. Details are small JSON objects and never hold secrets (token
prefixes and names are fine, secrets and passwords are not).
"""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from meshploy_core.audit.models import AuditEvent
from meshploy_core.db.paging import Page, PageRequest, fetch_page


@dataclass(frozen=True)
class Actor:
    """Who is acting: a user (through a token or session), from a client address.

    ``user_id`` is None for the system itself and for anonymous callers (a failed login).
    """

    user_id: uuid.UUID | None
    token_id: uuid.UUID | None = None
    ip: str | None = None


SYSTEM = Actor(user_id=None)


def _clean_ip(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


async def record(
    session: AsyncSession,
    actor: Actor,
    action: str,
    resource_type: str,
    resource_id: uuid.UUID | str | None = None,
    *,
    org_id: uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add one audit event to the session (flushed with the rest of the unit of work)."""
    event = AuditEvent(
        org_id=org_id,
        actor_user_id=actor.user_id,
        actor_token_id=actor.token_id,
        action=action,
        resource_type=resource_type,
        resource_id=str(resource_id) if resource_id is not None else None,
        ip=_clean_ip(actor.ip),
        details=details or {},
    )
    session.add(event)
    return event


@dataclass(frozen=True)
class AuditFilter:
    """Optional filters of :func:`list_events`; all given ones must match."""

    actor_user_id: uuid.UUID | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None


async def list_events(
    session: AsyncSession, org_id: uuid.UUID, filters: AuditFilter, page: PageRequest
) -> Page[AuditEvent]:
    """One organization's events, newest first."""
    query = select(AuditEvent).where(AuditEvent.org_id == org_id)
    if filters.actor_user_id is not None:
        query = query.where(AuditEvent.actor_user_id == filters.actor_user_id)
    if filters.resource_type is not None:
        query = query.where(AuditEvent.resource_type == filters.resource_type)
    if filters.resource_id is not None:
        query = query.where(AuditEvent.resource_id == filters.resource_id)
    if filters.action is not None:
        query = query.where(AuditEvent.action == filters.action)
    if filters.since is not None:
        query = query.where(AuditEvent.created_at >= filters.since)
    if filters.until is not None:
        query = query.where(AuditEvent.created_at < filters.until)
    return await fetch_page(
        session, query, [AuditEvent.id], lambda e: (e.id,), page, descending=True
    )
