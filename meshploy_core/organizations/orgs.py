"""Organizations: the tenants. Every organization has exactly one owner.

The database enforces "at most one owner" (partial unique index ``idx_one_owner_per_org``);
these functions keep "at least one": an organization is created together with its owner, the
owner cannot be removed or demoted, and ownership moves only through :func:`transfer_ownership`,
which demotes and promotes in one transaction.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from meshploy_core import audit
from meshploy_core.audit import Actor
from meshploy_core.db.base import utcnow
from meshploy_core.db.paging import Page, PageRequest, fetch_page
from meshploy_core.errors import Conflict, NotFound, PermissionDenied
from meshploy_core.names import slugify, validate_label
from meshploy_core.organizations.models import Membership, Organization, Role


@dataclass(frozen=True)
class OrgWithRole:
    """An organization and the caller's role in it."""

    org: Organization
    role: str


async def _slug_taken(session: AsyncSession, slug: str) -> bool:
    found = await session.scalar(select(Organization.id).where(Organization.slug == slug))
    return found is not None


async def create_org(
    session: AsyncSession,
    actor: Actor,
    owner_id: uuid.UUID,
    name: str,
    slug: str | None = None,
) -> Organization:
    """Create an organization owned by ``owner_id``.

    An explicit ``slug`` must be a free DNS label; without one it is derived from the name,
    with a random suffix if the derived one is taken.
    """
    if slug is not None:
        validate_label(slug)
        if await _slug_taken(session, slug):
            raise Conflict(f"an organization with slug {slug!r} already exists; pick another")
    else:
        base = slugify(name)
        slug = base
        while await _slug_taken(session, slug):
            slug = f"{base[:56]}-{secrets.token_hex(3)}"
    org = Organization(id=uuid.uuid4(), name=name, slug=slug, created_at=utcnow())
    session.add(org)
    try:
        await session.flush()  # the organization row first: memberships reference it
    except IntegrityError:
        raise Conflict(f"an organization with slug {slug!r} already exists; pick another") from None
    session.add(Membership(id=uuid.uuid4(), org_id=org.id, user_id=owner_id, role=Role.OWNER.value))
    await session.flush()
    await audit.record(
        session,
        actor,
        "org.create",
        "organization",
        org.id,
        org_id=org.id,
        details={"name": name, "slug": slug},
    )
    return org


async def list_for_user(
    session: AsyncSession, user_id: uuid.UUID, page: PageRequest
) -> Page[OrgWithRole]:
    """The organizations ``user_id`` belongs to, with their role, oldest first."""
    query = (
        select(Organization, Membership.role)
        .join(Membership, Membership.org_id == Organization.id)
        .where(Membership.user_id == user_id)
    )
    result = await fetch_page(
        session,
        query,
        [Organization.created_at, Organization.id],
        lambda row: (row[0].created_at, row[0].id),
        page,
        scalars=False,
    )
    return Page([OrgWithRole(org, role) for org, role in result.items], result.next_key)


async def get_org(session: AsyncSession, org_id: uuid.UUID) -> Organization:
    """The organization, or NotFound."""
    org = await session.get(Organization, org_id)
    if org is None:
        raise NotFound("no such organization")
    return org


async def rename_org(
    session: AsyncSession, actor: Actor, org_id: uuid.UUID, name: str
) -> Organization:
    """Change an organization's display name (its slug stays)."""
    org = await get_org(session, org_id)
    old = org.name
    org.name = name
    await audit.record(
        session,
        actor,
        "org.rename",
        "organization",
        org.id,
        org_id=org.id,
        details={"from": old, "to": name},
    )
    return org


async def delete_org(session: AsyncSession, actor: Actor, org_id: uuid.UUID) -> None:
    """Delete an organization and everything it owns.

    Its own audit events go with it, so the deletion is recorded without an organization.
    """
    org = await get_org(session, org_id)
    await audit.record(
        session,
        actor,
        "org.delete",
        "organization",
        org.id,
        details={"org_id": str(org.id), "name": org.name, "slug": org.slug},
    )
    await session.delete(org)
    await session.flush()


async def transfer_ownership(
    session: AsyncSession, actor: Actor, org_id: uuid.UUID, new_owner_id: uuid.UUID
) -> Membership:
    """Make ``new_owner_id`` (already a member) the owner; the old owner becomes an admin.

    One transaction: the memberships are locked, the owner demoted, then the new one promoted
    (in that order, so the one-owner index is never violated).
    """
    rows = (
        await session.scalars(
            select(Membership).where(Membership.org_id == org_id).with_for_update()
        )
    ).all()
    current = next((m for m in rows if m.role == Role.OWNER.value), None)
    target = next((m for m in rows if m.user_id == new_owner_id), None)
    if current is None or current.user_id != actor.user_id:
        raise PermissionDenied("only the organization's owner can transfer ownership")
    if target is None:
        raise NotFound("no member with that user id in this organization; invite them first")
    if target.id == current.id:
        raise Conflict("you already own this organization")
    current.role = Role.ADMIN.value
    await session.flush()
    target.role = Role.OWNER.value
    await session.flush()
    await audit.record(
        session,
        actor,
        "org.transfer",
        "organization",
        org_id,
        org_id=org_id,
        details={"from_user": str(current.user_id), "to_user": str(new_owner_id)},
    )
    return target
