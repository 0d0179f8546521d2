"""API tokens: personal tokens, organization agent tokens and login sessions.

All three are rows of ``api_tokens``; only the SHA-256 of a secret is stored and the secret
is returned once, at creation. Every request looks its token up again, so a revoked or
expired token fails on the very next request.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from meshploy_core import audit
from meshploy_core.accounts.models import ApiToken, User
from meshploy_core.accounts.secrets import hash_token, issue_token
from meshploy_core.audit import Actor
from meshploy_core.db.base import utcnow
from meshploy_core.db.paging import Page, PageRequest, fetch_page
from meshploy_core.errors import Conflict, NotFound

PERSONAL, AGENT, SESSION = "personal", "agent", "session"
SCOPES = ("read", "full")
#: Secret prefixes by kind; ``mp?_`` secrets are masked by the log redactor.
KIND_PREFIX = {PERSONAL: "mpt", AGENT: "mpa", SESSION: "mps"}
#: Refresh ``last_used_at`` at most this often, so reads do not each cost a write.
LAST_USED_GRANULARITY = timedelta(seconds=60)


@dataclass(frozen=True)
class IssuedApiToken:
    """A new token row and its secret (return the secret to the caller once, never store)."""

    token: ApiToken
    secret: str = field(repr=False)


async def create_token(
    session: AsyncSession,
    actor: Actor,
    *,
    user_id: uuid.UUID,
    kind: str,
    name: str,
    scope: str,
    org_id: uuid.UUID | None = None,
    expires_at: datetime | None = None,
) -> IssuedApiToken:
    """Create a token of ``kind`` for ``user_id`` (``org_id`` binds agent tokens to one org)."""
    if kind not in KIND_PREFIX or scope not in SCOPES:
        raise ValueError(f"unknown token kind {kind!r} or scope {scope!r}")
    if (kind == AGENT) != (org_id is not None):
        raise ValueError("agent tokens, and only they, are bound to an organization")
    issued = issue_token(KIND_PREFIX[kind])
    token = ApiToken(
        id=uuid.uuid4(),
        user_id=user_id,
        org_id=org_id,
        name=name,
        kind=kind,
        scope=scope,
        prefix=issued.prefix,
        token_hash=issued.digest,
        created_at=utcnow(),
        expires_at=expires_at,
    )
    session.add(token)
    if kind != SESSION:
        await audit.record(
            session,
            actor,
            "token.create",
            "token",
            token.id,
            org_id=org_id,
            details={"kind": kind, "name": name, "scope": scope, "prefix": issued.prefix},
        )
    return IssuedApiToken(token=token, secret=issued.secret)


async def create_session(
    session: AsyncSession, actor: Actor, user: User, ttl_seconds: int, client: str
) -> IssuedApiToken:
    """A login session (full scope) that expires after ``ttl_seconds``."""
    return await create_token(
        session,
        actor,
        user_id=user.id,
        kind=SESSION,
        name=f"login ({client})",
        scope="full",
        expires_at=utcnow() + timedelta(seconds=ttl_seconds),
    )


@dataclass(frozen=True)
class Authenticated:
    """A valid token and the active user it belongs to."""

    token: ApiToken
    user: User


async def authenticate(
    session: AsyncSession, secret: str, now: datetime | None = None
) -> Authenticated | None:
    """Find the live token for ``secret``: not revoked, not expired, its user active."""
    now = now or utcnow()
    row = (
        await session.execute(
            select(ApiToken, User)
            .join(User, User.id == ApiToken.user_id)
            .where(ApiToken.token_hash == hash_token(secret))
        )
    ).first()
    if row is None:
        return None
    token, user = row
    if token.revoked_at is not None or not user.is_active:
        return None
    if token.expires_at is not None and token.expires_at <= now:
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_GRANULARITY:
        token.last_used_at = now
    return Authenticated(token=token, user=user)


async def list_personal(
    session: AsyncSession, user_id: uuid.UUID, page: PageRequest
) -> Page[ApiToken]:
    """A user's personal tokens (revoked ones included, flagged), oldest first."""
    query = select(ApiToken).where(ApiToken.user_id == user_id, ApiToken.kind == PERSONAL)
    return await fetch_page(
        session, query, [ApiToken.created_at, ApiToken.id], lambda t: (t.created_at, t.id), page
    )


async def list_agent(session: AsyncSession, org_id: uuid.UUID, page: PageRequest) -> Page[ApiToken]:
    """An organization's agent tokens, oldest first."""
    query = select(ApiToken).where(ApiToken.org_id == org_id, ApiToken.kind == AGENT)
    return await fetch_page(
        session, query, [ApiToken.created_at, ApiToken.id], lambda t: (t.created_at, t.id), page
    )


async def _revoke(session: AsyncSession, actor: Actor, token: ApiToken | None) -> ApiToken:
    if token is None:
        raise NotFound("no such token")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        await audit.record(
            session,
            actor,
            "token.revoke",
            "token",
            token.id,
            org_id=token.org_id,
            details={"kind": token.kind, "name": token.name, "prefix": token.prefix},
        )
    return token


async def revoke_personal(
    session: AsyncSession, actor: Actor, user_id: uuid.UUID, token_id: uuid.UUID
) -> ApiToken:
    """Revoke one of ``user_id``'s personal tokens (another user's token is NotFound)."""
    token = await session.scalar(
        select(ApiToken).where(
            ApiToken.id == token_id, ApiToken.user_id == user_id, ApiToken.kind == PERSONAL
        )
    )
    return await _revoke(session, actor, token)


async def revoke_agent(
    session: AsyncSession, actor: Actor, org_id: uuid.UUID, token_id: uuid.UUID
) -> ApiToken:
    """Revoke one of the organization's agent tokens."""
    token = await session.scalar(
        select(ApiToken).where(
            ApiToken.id == token_id, ApiToken.org_id == org_id, ApiToken.kind == AGENT
        )
    )
    return await _revoke(session, actor, token)


async def end_session(session: AsyncSession, actor: Actor, token: ApiToken) -> None:
    """Log out: revoke the login session ``token`` (API tokens are revoked explicitly)."""
    if token.kind != SESSION:
        raise Conflict(
            "logout ends login sessions; this request used an API token, revoke it with "
            "DELETE /api/v1/tokens/{id} instead"
        )
    token.revoked_at = utcnow()
    await audit.record(session, actor, "user.logout", "user", token.user_id)


async def revoke_sessions(
    session: AsyncSession, user_id: uuid.UUID, keep: uuid.UUID | None = None
) -> None:
    """Revoke every login session of ``user_id`` except ``keep`` (after a password change)."""
    stmt = (
        update(ApiToken)
        .where(
            ApiToken.user_id == user_id,
            ApiToken.kind == SESSION,
            ApiToken.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow())
    )
    if keep is not None:
        stmt = stmt.where(ApiToken.id != keep)
    await session.execute(stmt)


async def revoke_agent_tokens_of(
    session: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID
) -> None:
    """Revoke the agent tokens ``user_id`` created in ``org_id`` (they leave the org)."""
    await session.execute(
        update(ApiToken)
        .where(
            ApiToken.org_id == org_id,
            ApiToken.user_id == user_id,
            ApiToken.kind == AGENT,
            ApiToken.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow())
    )
