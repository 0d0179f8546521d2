"""User accounts: lookup, login (with the second factor and rate limits) and password changes.

Creating an account is registration (:mod:`meshploy_core.organizations.registration`): it
always makes the new user a member of an organization.
"""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from meshploy_core import audit
from meshploy_core.accounts import tokens, twofactor
from meshploy_core.accounts.models import User
from meshploy_core.accounts.passwords import (
    check_password_rules,
    hash_password_async,
    verify_password_async,
)
from meshploy_core.accounts.ratelimit import LoginRateLimiter
from meshploy_core.audit import Actor
from meshploy_core.errors import NotFound, PermissionDenied, Unauthenticated


class InvalidCredentials(Unauthenticated):
    """Email, password or second factor is wrong (never says which)."""


class TwoFactorRequired(Unauthenticated):
    """The password was right; the account also needs a TOTP code or a recovery code."""


async def is_bootstrapped(session: AsyncSession) -> bool:
    """Whether any account exists (after that, registration needs an invitation)."""
    return await session.scalar(select(User.id).limit(1)) is not None


async def find_user(session: AsyncSession, email: str) -> User | None:
    """The account with this email (case-insensitive), if any."""
    return await session.scalar(select(User).where(func.lower(User.email) == email.lower()))


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


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User:
    """The user, or NotFound."""
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("no such user")
    return user
