"""Registration: the first account owns a new organization, later ones join by invitation.

From the first registration on, an account can only be created with an invitation.
Registration takes a transaction-scoped advisory lock, so two simultaneous "first"
registrations cannot both become owners.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from meshploy_core import audit
from meshploy_core.accounts.models import User
from meshploy_core.accounts.passwords import (
    check_password_rules,
    hash_password_async,
    normalize_email,
)
from meshploy_core.accounts.users import find_user, is_bootstrapped
from meshploy_core.audit import Actor
from meshploy_core.db.base import utcnow
from meshploy_core.errors import Conflict, PermissionDenied
from meshploy_core.organizations import members as memberships
from meshploy_core.organizations import orgs as organizations
from meshploy_core.organizations.models import Organization

#: pg_advisory_xact_lock key serialising registrations ("MESHREG1").
REGISTRATION_LOCK = 0x4D45534852454731


DEFAULT_ORG_NAME = "My organization"


class RegistrationClosed(PermissionDenied):
    """The instance is set up; new accounts need an invitation."""


@dataclass(frozen=True)
class Registration:
    """The new user and the organization they joined (created, on first run)."""

    user: User
    organization: Organization
    role: str
    bootstrap: bool


async def register(
    session: AsyncSession,
    actor: Actor,
    *,
    email: str,
    password: str,
    display_name: str = "",
    organization_name: str | None = None,
    invitation_token: str | None = None,
    rounds: int = 12,
) -> Registration:
    """Create an account: the first one owns a new organization, later ones need an invitation."""
    email = normalize_email(email)
    check_password_rules(password)
    await session.execute(select(func.pg_advisory_xact_lock(REGISTRATION_LOCK)))
    bootstrap = not await is_bootstrapped(session)
    invitation = None
    if not bootstrap:
        if not invitation_token:
            raise RegistrationClosed(
                "registration is closed; ask an organization admin for an invitation"
            )
        invitation = await memberships.claim_invitation(session, invitation_token, email)
    if await find_user(session, email) is not None:
        raise Conflict(
            "an account with this email already exists; log in and accept the invitation with "
            "POST /api/v1/invitations/accept"
        )
    user = User(
        id=uuid.uuid4(),
        email=email,
        display_name=display_name,
        password_hash=await hash_password_async(password, rounds),
        totp_enabled=False,
        is_active=True,
        created_at=utcnow(),
    )
    session.add(user)
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict("an account with this email already exists") from None
    actor = Actor(user_id=user.id, token_id=actor.token_id, ip=actor.ip)
    await audit.record(
        session, actor, "user.register", "user", user.id, details={"bootstrap": bootstrap}
    )
    if invitation is None:
        org = await organizations.create_org(
            session, actor, user.id, organization_name or DEFAULT_ORG_NAME
        )
        return Registration(user=user, organization=org, role="owner", bootstrap=True)
    membership = await memberships.join_with_invitation(session, actor, invitation, user.id)
    org = await organizations.get_org(session, invitation.org_id)
    return Registration(user=user, organization=org, role=membership.role, bootstrap=False)
