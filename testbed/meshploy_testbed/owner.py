"""The local owner ``meshploy dev`` creates, and a fresh API token for it on every start.

On an empty database the first account is created (it owns a new organization, exactly as
the first registration through the API would); its password is kept in the data directory
(mode 0600) for logging in to the dashboard. Each start issues a new personal token named
``meshploy dev`` and revokes the previous ones, so only the printed token works.
"""

from __future__ import annotations

import os
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from meshploy_core.accounts import tokens, users
from meshploy_core.accounts.models import ApiToken
from meshploy_core.audit import SYSTEM
from meshploy_core.db.base import utcnow
from meshploy_core.db.engine import session_factory
from meshploy_core.organizations import registration
from meshploy_core.organizations.models import Membership

DEV_EMAIL = "owner@meshploy.localhost"
TOKEN_NAME = "meshploy dev"  # noqa: S105 (a token name, not a secret)


@dataclass(frozen=True)
class DevOwner:
    """Who the dev token belongs to and the token itself (shown once, printed by dev)."""

    email: str
    org_id: uuid.UUID
    token: str
    password_file: Path | None


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


async def ensure_dev_owner(engine: AsyncEngine, data_dir: Path, rounds: int) -> DevOwner:
    """Bootstrap the first account if there is none; return a fresh token of an owner."""
    sessions = session_factory(engine)
    password_file: Path | None = None
    async with sessions() as session:
        if not await users.is_bootstrapped(session):
            password = secrets.token_urlsafe(18)
            await registration.register(
                session,
                SYSTEM,
                email=DEV_EMAIL,
                password=password,
                display_name="Local owner",
                organization_name="Local development",
                rounds=rounds,
            )
            password_file = data_dir / "dev-owner-password"
            _write_private(password_file, f"{DEV_EMAIL}\n{password}\n")
            await session.commit()
        elif (data_dir / "dev-owner-password").exists():
            password_file = data_dir / "dev-owner-password"
        owner = (
            await session.execute(
                select(Membership)
                .where(Membership.role == "owner")
                .order_by(Membership.created_at)
                .limit(1)
            )
        ).scalar_one()
        user = await users.get_user(session, owner.user_id)
        await session.execute(
            update(ApiToken)
            .where(
                ApiToken.user_id == user.id,
                ApiToken.name == TOKEN_NAME,
                ApiToken.kind == tokens.PERSONAL,
                ApiToken.revoked_at.is_(None),
            )
            .values(revoked_at=utcnow())
        )
        issued = await tokens.create_token(
            session, SYSTEM, user_id=user.id, kind=tokens.PERSONAL, name=TOKEN_NAME, scope="full"
        )
        await session.commit()
    return DevOwner(
        email=user.email, org_id=owner.org_id, token=issued.secret, password_file=password_file
    )
