"""Accounts: first-run bootstrap, registration by invitation, login and password changes.

The first user to register becomes the owner of a new organization; from then on an account
can only be created with an invitation. Registration takes a transaction-scoped advisory
lock, so two simultaneous "first" registrations cannot both become owners.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from meshploy_core.auth.ratelimit import LoginRateLimiter
from meshploy_core.db.base import utcnow
from meshploy_core.db.models import Membership, Organization, User
from meshploy_core.errors import Conflict, NotFound, PermissionDenied, Unauthenticated
from meshploy_core.services import audit, memberships, organizations, tokens, twofactor
from meshploy_core.services.audit import Actor
from meshploy_core.services.credentials import (
    check_password_rules,
    hash_password_async,
    normalize_email,
    verify_password_async,
)

#: pg_advisory_xact_lock key serialising registrations ("MESHREG1").
REGISTRATION_LOCK = 0x4D45534852454731
DEFAULT_ORG_NAME = "My organization"


class InvalidCredentials(Unauthenticated):
    """Email, password or second factor is wrong (never says which)."""


class TwoFactorRequired(Unauthenticated):
    """The password was right; the account also needs a TOTP code or a recovery code."""


class RegistrationClosed(PermissionDenied):
    """The instance is set up; new accounts need an invitation."""


@dataclass(frozen=True)
class Registration:
    """The new user and the organization they joined (created, on first run)."""

    user: User
    organization: Organization
    role: str
    bootstrap: bool


async def is_bootstrapped(session: AsyncSession) -> bool:
    """Whether any account exists (after that, registration needs an invitation)."""
    return await session.scalar(select(User.id).limit(1)) is not None


async def find_user(session: AsyncSession, email: str) -> User | None:
    """The account with this email (case-insensitive), if any."""
    return await session.scalar(select(User).where(func.lower(User.email) == email.lower()))


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


async def login(
    session: AsyncSession,
    limiter: LoginRateLimiter,
    actor: Actor,
    *,
    email: str,
    password: str,
    totp_code: str | None = None,
    recovery_code: str | None = None,
    rounds: int = 12,
) -> User:
    """Check credentials (and the second factor when enabled), under the rate limits.

    Unlike other services this commits on failure: the failed attempt must be counted and
    audited even though the request then fails.
    """
    key = email.strip().lower()
    await limiter.check(session, key, actor.ip)
    user = await find_user(session, key)
    ok = await verify_password_async(password, user.password_hash if user else None, rounds)
    if user is None or not ok or not user.is_active:
        await _fail(session, limiter, actor, key, user, "password")
        raise InvalidCredentials("email or password is incorrect")
    if user.totp_enabled:
        if not totp_code and not recovery_code:
            raise TwoFactorRequired(
                "this account uses two-factor authentication; send totp_code (from the "
                "authenticator app) or recovery_code"
            )
        if not await twofactor.verify_second_factor(session, user, totp_code, recovery_code):
            await _fail(session, limiter, actor, key, user, "second factor")
            raise InvalidCredentials("the two-factor code or recovery code is incorrect")
    await limiter.clear_account(session, key)
    details = {}
    if user.totp_enabled:
        details["second_factor"] = "totp" if totp_code else "recovery_code"
    await audit.record(
        session,
        Actor(user.id, actor.token_id, actor.ip),
        "user.login",
        "user",
        user.id,
        details=details,
    )
    return user


async def _fail(
    session: AsyncSession,
    limiter: LoginRateLimiter,
    actor: Actor,
    email: str,
    user: User | None,
    what: str,
) -> None:
    await limiter.record_failure(session, email, actor.ip)
    await audit.record(
        session,
        Actor(user.id if user else None, None, actor.ip),
        "user.login_failed",
        "user",
        user.id if user else None,
        details={"failed": what},
    )
    await session.commit()


async def change_password(
    session: AsyncSession,
    actor: Actor,
    user: User,
    current: str,
    new: str,
    *,
    rounds: int = 12,
    keep_session: uuid.UUID | None = None,
) -> None:
    """Replace the password; every other login session of the user is ended."""
    if not await verify_password_async(current, user.password_hash, rounds):
        raise PermissionDenied("the current password is incorrect")
    check_password_rules(new, "new_password")
    user.password_hash = await hash_password_async(new, rounds)
    await tokens.revoke_sessions(session, user.id, keep=keep_session)
    await audit.record(session, actor, "user.password_change", "user", user.id)


async def memberships_of(session: AsyncSession, user_id: uuid.UUID) -> list[Membership]:
    """Every membership of ``user_id``."""
    return list(
        (await session.scalars(select(Membership).where(Membership.user_id == user_id))).all()
    )


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User:
    """The user, or NotFound."""
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("no such user")
    return user
