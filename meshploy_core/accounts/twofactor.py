"""TOTP two-factor authentication (RFC 6238) and one-time recovery codes.

The TOTP secret lives in an encrypted column and is shown once, at setup. A code is accepted
within one 30 s step either side of now, and never twice: the last accepted step is stored
and only a later one passes (checked and stored in one UPDATE, so concurrent logins with the
same code cannot both win). Recovery codes are 80-bit random, stored as SHA-256 hashes, and
each works once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import cast

import pyotp
from sqlalchemy import CursorResult, delete, or_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from meshploy_core import audit
from meshploy_core.accounts.models import RecoveryCode, User
from meshploy_core.accounts.passwords import verify_password_async
from meshploy_core.audit import Actor
from meshploy_core.db.base import utcnow
from meshploy_core.errors import Conflict, PermissionDenied, ValidationFailed

ISSUER = "Meshploy"
STEP_SECONDS = 30
RECOVERY_CODES = 10


@dataclass(frozen=True)
class TotpSetup:
    """A new (not yet enabled) TOTP secret and its ``otpauth://`` URI for authenticator apps."""

    secret: str = field(repr=False)
    uri: str = field(repr=False)


def _normalize_code(code: str) -> str:
    return "".join(code.split())


def matching_step(secret: str, code: str, now: float | None = None) -> int | None:
    """The time step ``code`` is valid for (now, or one step either side), else None."""
    code = _normalize_code(code)
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, interval=STEP_SECONDS)
    current = int((time.time() if now is None else now) // STEP_SECONDS)
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


async def accept_totp(session: AsyncSession, user: User, code: str) -> bool:
    """Whether ``code`` is a fresh, valid TOTP code for ``user`` (and remember its step)."""
    if not user.totp_secret:
        return False
    step = matching_step(user.totp_secret, code)
    if step is None:
        return False
    result = cast(
        "CursorResult[object]",
        await session.execute(
            update(User)
            .where(
                User.id == user.id,
                or_(User.totp_last_step.is_(None), User.totp_last_step < step),
            )
            .values(totp_last_step=step)
            .execution_options(synchronize_session=False)
        ),
    )
    if result.rowcount != 1:
        return False
    set_committed_value(user, "totp_last_step", step)
    return True


def _hash_code(code: str) -> str:
    normalized = "".join(ch for ch in code.lower() if ch.isalnum())
    return hashlib.sha256(normalized.encode("ascii", "ignore")).hexdigest()


def _new_code() -> str:
    raw = base64.b32encode(secrets.token_bytes(10)).decode("ascii").lower()
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


async def use_recovery_code(session: AsyncSession, user_id: uuid.UUID, code: str) -> bool:
    """Spend one unused recovery code of ``user_id``; False if it is not one."""
    result = cast(
        "CursorResult[object]",
        await session.execute(
            update(RecoveryCode)
            .where(
                RecoveryCode.user_id == user_id,
                RecoveryCode.code_hash == _hash_code(code),
                RecoveryCode.used_at.is_(None),
            )
            .values(used_at=utcnow())
        ),
    )
    return result.rowcount == 1


async def verify_second_factor(
    session: AsyncSession, user: User, totp_code: str | None, recovery_code: str | None
) -> bool:
    """Check whichever second factor was given (a TOTP code wins if both are)."""
    if totp_code:
        return await accept_totp(session, user, totp_code)
    if recovery_code:
        return await use_recovery_code(session, user.id, recovery_code)
    return False


async def _replace_recovery_codes(session: AsyncSession, user_id: uuid.UUID) -> list[str]:
    await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    codes = [_new_code() for _ in range(RECOVERY_CODES)]
    now = utcnow()
    session.add_all(
        RecoveryCode(id=uuid.uuid4(), user_id=user_id, code_hash=_hash_code(c), created_at=now)
        for c in codes
    )
    return codes


async def begin_setup(session: AsyncSession, actor: Actor, user: User) -> TotpSetup:
    """Generate a new secret for ``user`` (two-factor stays off until :func:`enable`)."""
    if user.totp_enabled:
        raise Conflict("two-factor authentication is already on; disable it first to re-enrol")
    secret = pyotp.random_base32()
    user.totp_secret = secret
    user.totp_last_step = None
    await audit.record(session, actor, "user.totp_setup", "user", user.id)
    uri = pyotp.TOTP(secret, interval=STEP_SECONDS).provisioning_uri(
        name=user.email, issuer_name=ISSUER
    )
    return TotpSetup(secret=secret, uri=uri)


async def enable(session: AsyncSession, actor: Actor, user: User, code: str) -> list[str]:
    """Turn two-factor on after the user proves their app works; returns recovery codes."""
    if user.totp_enabled:
        raise Conflict("two-factor authentication is already on")
    if not user.totp_secret:
        raise Conflict("no two-factor setup in progress; call POST /api/v1/auth/totp/setup first")
    if not await accept_totp(session, user, code):
        raise ValidationFailed(
            "the code does not match; check the authenticator app's clock and try the current code",
            {"code": "not the current code of the new secret"},
        )
    user.totp_enabled = True
    codes = await _replace_recovery_codes(session, user.id)
    await audit.record(session, actor, "user.totp_enable", "user", user.id)
    return codes


async def _require_second_factor(
    session: AsyncSession, user: User, code: str | None, recovery_code: str | None
) -> None:
    if not await verify_second_factor(session, user, code, recovery_code):
        raise PermissionDenied("the two-factor code or recovery code is incorrect")


async def disable(
    session: AsyncSession,
    actor: Actor,
    user: User,
    password: str,
    code: str | None,
    recovery_code: str | None,
    rounds: int,
) -> None:
    """Turn two-factor off; needs the password and a current code or a recovery code."""
    if not user.totp_enabled:
        raise Conflict("two-factor authentication is not on")
    if not await verify_password_async(password, user.password_hash, rounds):
        raise PermissionDenied("the password is incorrect")
    await _require_second_factor(session, user, code, recovery_code)
    user.totp_enabled = False
    user.totp_secret = None
    user.totp_last_step = None
    await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    await audit.record(session, actor, "user.totp_disable", "user", user.id)


async def regenerate_recovery_codes(
    session: AsyncSession, actor: Actor, user: User, code: str
) -> list[str]:
    """Replace every recovery code (the old ones stop working); needs a current TOTP code."""
    if not user.totp_enabled:
        raise Conflict("two-factor authentication is not on")
    await _require_second_factor(session, user, code, None)
    codes = await _replace_recovery_codes(session, user.id)
    await audit.record(session, actor, "user.recovery_codes_regenerate", "user", user.id)
    return codes
