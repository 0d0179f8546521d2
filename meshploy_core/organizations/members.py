"""Members of organizations and invitations to join them.

An invitation token is shown once, stored as a SHA-256 hash, bound to one email address,
expires, and can be used exactly once (the row is locked while it is claimed).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from meshploy_core import audit
from meshploy_core.accounts import tokens
from meshploy_core.accounts.models import User
from meshploy_core.accounts.secrets import hash_token, issue_token
from meshploy_core.audit import Actor
from meshploy_core.db.base import utcnow
from meshploy_core.db.paging import Page, PageRequest, fetch_page
from meshploy_core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from meshploy_core.organizations.models import INVITABLE_ROLES, Invitation, Membership, Role

INVITATION_PREFIX = "mpi"


@dataclass(frozen=True)
class Member:
    """A membership joined with its user."""

    membership: Membership
    user: User


async def get_membership(
    session: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID
) -> Membership | None:
    """``user_id``'s membership of ``org_id``, if any."""
    return await session.scalar(
        select(Membership).where(Membership.org_id == org_id, Membership.user_id == user_id)
    )


async def list_members(session: AsyncSession, org_id: uuid.UUID, page: PageRequest) -> Page[Member]:
    """The organization's members, in the order they joined."""
    query = (
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.org_id == org_id)
    )
    result = await fetch_page(
        session,
        query,
        [Membership.created_at, Membership.id],
        lambda row: (row[0].created_at, row[0].id),
        page,
        scalars=False,
    )
    return Page([Member(m, u) for m, u in result.items], result.next_key)


async def get_member(
    session: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID, *, lock: bool = False
) -> Member:
    """One member of the organization (locked for update if ``lock``), or NotFound."""
    query = (
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.org_id == org_id, Membership.user_id == user_id)
    )
    if lock:
        query = query.with_for_update(of=Membership)
    row = (await session.execute(query)).first()
    if row is None:
        raise NotFound("no member with that user id in this organization")
    return Member(row[0], row[1])


def _check_assignable(role: str) -> None:
    if role == Role.OWNER.value:
        raise ValidationFailed(
            "the owner role is given only by transferring ownership "
            "(POST /api/v1/orgs/{org_id}/transfer)",
            {"role": "must be one of admin, developer, viewer"},
        )
    if role not in INVITABLE_ROLES:
        raise ValidationFailed(
            f"unknown role {role!r}", {"role": "must be one of admin, developer, viewer"}
        )


async def change_role(
    session: AsyncSession, actor: Actor, org_id: uuid.UUID, user_id: uuid.UUID, role: str
) -> Member:
    """Set a member's role to admin, developer or viewer (never to or from owner)."""
    _check_assignable(role)
    member = await get_member(session, org_id, user_id, lock=True)
    if member.membership.role == Role.OWNER.value:
        raise Conflict("the owner's role changes only by transferring ownership to another member")
    old = member.membership.role
    member.membership.role = role
    await audit.record(
        session,
        actor,
        "member.role_change",
        "member",
        user_id,
        org_id=org_id,
        details={"from": old, "to": role},
    )
    return member


async def remove_member(
    session: AsyncSession, actor: Actor, org_id: uuid.UUID, user_id: uuid.UUID
) -> None:
    """Remove a member (not the owner) and revoke the agent tokens they created there."""
    member = await get_member(session, org_id, user_id, lock=True)
    if member.membership.role == Role.OWNER.value:
        raise Conflict("the owner cannot be removed; transfer ownership to another member first")
    await session.delete(member.membership)
    await tokens.revoke_agent_tokens_of(session, org_id, user_id)
    await audit.record(session, actor, "member.remove", "member", user_id, org_id=org_id)


# -- Invitations ----------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedInvitation:
    """A new invitation and its token (shown once)."""

    invitation: Invitation
    token: str = field(repr=False)


def invitation_status(inv: Invitation, now: datetime | None = None) -> str:
    """``accepted``, ``revoked``, ``expired`` or ``pending``."""
    if inv.accepted_at is not None:
        return "accepted"
    if inv.revoked_at is not None:
        return "revoked"
    if inv.expires_at <= (now or utcnow()):
        return "expired"
    return "pending"


async def create_invitation(
    session: AsyncSession,
    actor: Actor,
    org_id: uuid.UUID,
    email: str,
    role: str,
    ttl: timedelta,
) -> IssuedInvitation:
    """Invite ``email`` as ``role``; earlier pending invitations for that email are revoked."""
    _check_assignable(role)
    email = email.strip().lower()
    existing = await session.scalar(
        select(Membership.id)
        .join(User, User.id == Membership.user_id)
        .where(Membership.org_id == org_id, func.lower(User.email) == email)
    )
    if existing is not None:
        raise Conflict("that person is already a member of this organization")
    now = utcnow()
    await session.execute(
        update(Invitation)
        .where(
            Invitation.org_id == org_id,
            Invitation.email == email,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    issued = issue_token(INVITATION_PREFIX)
    inv = Invitation(
        id=uuid.uuid4(),
        org_id=org_id,
        email=email,
        role=role,
        prefix=issued.prefix,
        token_hash=issued.digest,
        invited_by=actor.user_id,
        created_at=now,
        expires_at=now + ttl,
    )
    session.add(inv)
    await audit.record(
        session,
        actor,
        "invitation.create",
        "invitation",
        inv.id,
        org_id=org_id,
        details={"email": email, "role": role, "prefix": issued.prefix},
    )
    return IssuedInvitation(invitation=inv, token=issued.secret)


async def list_invitations(
    session: AsyncSession, org_id: uuid.UUID, page: PageRequest
) -> Page[Invitation]:
    """The organization's invitations (every status), oldest first."""
    query = select(Invitation).where(Invitation.org_id == org_id)
    return await fetch_page(
        session,
        query,
        [Invitation.created_at, Invitation.id],
        lambda i: (i.created_at, i.id),
        page,
    )


async def revoke_invitation(
    session: AsyncSession, actor: Actor, org_id: uuid.UUID, invitation_id: uuid.UUID
) -> None:
    """Revoke a pending invitation (revoking a used or revoked one changes nothing)."""
    inv = await session.scalar(
        select(Invitation).where(Invitation.id == invitation_id, Invitation.org_id == org_id)
    )
    if inv is None:
        raise NotFound("no such invitation in this organization")
    if inv.accepted_at is None and inv.revoked_at is None:
        inv.revoked_at = utcnow()
        await audit.record(
            session,
            actor,
            "invitation.revoke",
            "invitation",
            inv.id,
            org_id=org_id,
            details={"email": inv.email},
        )


async def claim_invitation(session: AsyncSession, token: str, email: str) -> Invitation:
    """Lock the live invitation for ``token`` and check it was issued to ``email``."""
    inv = await session.scalar(
        select(Invitation).where(Invitation.token_hash == hash_token(token)).with_for_update()
    )
    if inv is None or invitation_status(inv) != "pending":
        raise NotFound(
            "this invitation is not valid: it was already used, revoked or has expired; "
            "ask for a new one"
        )
    if inv.email != email.strip().lower():
        raise PermissionDenied(
            "this invitation was issued for another email address; sign in with that "
            "address or ask for a new invitation"
        )
    return inv


async def join_with_invitation(
    session: AsyncSession, actor: Actor, inv: Invitation, user_id: uuid.UUID
) -> Membership:
    """Make ``user_id`` a member as the claimed invitation says, and use the invitation up."""
    if await get_membership(session, inv.org_id, user_id) is not None:
        raise Conflict("you are already a member of this organization")
    membership = Membership(id=uuid.uuid4(), org_id=inv.org_id, user_id=user_id, role=inv.role)
    session.add(membership)
    inv.accepted_at = utcnow()
    inv.accepted_by = user_id
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict("you are already a member of this organization") from None
    await audit.record(
        session,
        actor,
        "invitation.accept",
        "member",
        user_id,
        org_id=inv.org_id,
        details={"invitation_id": str(inv.id), "role": inv.role},
    )
    return membership


async def accept_invitation(
    session: AsyncSession, actor: Actor, user: User, token: str
) -> Membership:
    """An existing user accepts an invitation issued to their email address."""
    inv = await claim_invitation(session, token, user.email)
    return await join_with_invitation(session, actor, inv, user.id)


async def memberships_of(session: AsyncSession, user_id: uuid.UUID) -> list[Membership]:
    """Every membership of ``user_id``."""
    return list(
        (await session.scalars(select(Membership).where(Membership.user_id == user_id))).all()
    )
