"""Encrypted columns on a real PostgreSQL, read back with plain SQL."""

from __future__ import annotations

import base64
import os
import subprocess
import sys

import asyncpg
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from meshploy_core.accounts.models import User
from meshploy_core.db.engine import create_engine, session_factory
from meshploy_core.encryption.keyring import generate_key, key_id
from meshploy_core.errors import DecryptionError
from meshploy_core.organizations.models import Organization
from meshploy_core.projects.models import Project
from meshploy_core.services.models import Service
from meshploy_core.settings import Settings
from tests.fixtures.postgres import settings_for

TOTP = "JBSWY3DPEHPK3PXPSECRETVALUE"
ENV = '{"DB_PASSWORD": "s3cr3t-p@ss"}'


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _seed(engine: AsyncEngine, users: int = 3) -> None:
    async with session_factory(engine)() as session:
        org = Organization(name="Acme", slug="acme")
        session.add(org)
        await session.flush()
        project = Project(org_id=org.id, name="Web", slug="web")
        session.add(project)
        await session.flush()
        session.add(Service(project_id=project.id, name="api", image="nginx", port=80, env=ENV))
        for i in range(users):
            session.add(
                User(email=f"u{i}@example.com", password_hash="x", totp_secret=f"{TOTP}{i}")
            )
        await session.commit()


async def _raw(url: str, sql: str) -> list[str]:
    conn = await asyncpg.connect(_dsn(url))
    try:
        return [r[0] for r in await conn.fetch(sql)]
    finally:
        await conn.close()


async def test_no_plaintext_is_stored(engine: AsyncEngine, settings: Settings) -> None:
    await _seed(engine)
    url = settings.require_database_url()
    totps = await _raw(url, "select totp_secret from users")
    envs = await _raw(url, "select env from services")
    assert len(totps) == 3 and len(envs) == 1
    for value in [*totps, *envs]:
        assert value.startswith(f"mp1:{key_id(settings.require_encryption_key())}:"), value
        assert TOTP not in value and "s3cr3t" not in value
    # And the ORM reads them back.
    async with session_factory(engine)() as session:
        secrets = sorted(str(v) for v in (await session.scalars(select(User.totp_secret))).all())
        assert secrets == [f"{TOTP}{i}" for i in range(3)]
        assert (await session.scalars(select(Service.env))).one() == ENV


async def test_tampered_value_is_detected(engine: AsyncEngine, settings: Settings) -> None:
    await _seed(engine, users=1)
    url = settings.require_database_url()
    stored = (await _raw(url, "select env from services"))[0]
    prefix, kid, body = stored.split(":")
    flipped = ("A" if body[5] != "A" else "B").join([body[:5], body[6:]])
    conn = await asyncpg.connect(_dsn(url))
    try:
        await conn.execute("update services set env = $1", f"{prefix}:{kid}:{flipped}")
    finally:
        await conn.close()
    async with session_factory(engine)() as session:
        with pytest.raises(DecryptionError, match="failed authentication"):
            await session.scalars(select(Service.env))


async def test_value_swapped_between_columns_is_detected(
    engine: AsyncEngine, settings: Settings
) -> None:
    await _seed(engine, users=1)
    conn = await asyncpg.connect(_dsn(settings.require_database_url()))
    try:
        await conn.execute("update services set env = (select totp_secret from users limit 1)")
    finally:
        await conn.close()
    async with session_factory(engine)() as session:
        with pytest.raises(DecryptionError, match="belongs to another field"):
            await session.scalars(select(Service.env))


async def test_wrong_key_fails_loudly(engine: AsyncEngine, database_url: str) -> None:
    await _seed(engine, users=1)
    other = create_engine(settings_for(database_url), pool_size=1)
    try:
        async with session_factory(other)() as session:
            with pytest.raises(DecryptionError, match="not configured"):
                await session.scalars(select(User.totp_secret))
    finally:
        await other.dispose()


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "meshploy_core", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_rotation_reencrypts_everything_without_loss(
    engine: AsyncEngine, settings: Settings, database_url: str
) -> None:
    await _seed(engine, users=7)
    old_b64 = base64.b64encode(settings.require_encryption_key()).decode()
    new = generate_key()
    new_b64 = base64.b64encode(new).decode()
    env = {"DATABASE_URL": database_url, "ENCRYPTION_KEY": new_b64}

    refused = _cli(env, "admin", "rotate-encryption-key")
    assert refused.returncode == 1
    assert "ENCRYPTION_KEY_PREVIOUS is not set" in refused.stderr

    done = _cli(
        {**env, "ENCRYPTION_KEY_PREVIOUS": old_b64},
        "admin",
        "rotate-encryption-key",
        "--batch-size",
        "3",
    )
    assert done.returncode == 0, done.stderr
    assert "re-encrypted 8 value(s); 0 left under an old key" in done.stdout
    assert old_b64 not in done.stdout + done.stderr and new_b64 not in done.stdout + done.stderr

    url = settings.require_database_url()
    stored = await _raw(url, "select totp_secret from users") + await _raw(
        url, "select env from services"
    )
    assert all(v.startswith(f"mp1:{key_id(new)}:") for v in stored), stored

    # The new key alone now reads everything; the old key alone reads nothing.
    new_only = create_engine(settings_for(database_url, ENCRYPTION_KEY=new_b64), pool_size=1)
    old_only = create_engine(settings_for(database_url, ENCRYPTION_KEY=old_b64), pool_size=1)
    try:
        async with session_factory(new_only)() as session:
            secrets = sorted(
                str(v) for v in (await session.scalars(select(User.totp_secret))).all()
            )
            assert secrets == sorted(f"{TOTP}{i}" for i in range(7))
            assert (await session.scalars(select(Service.env))).one() == ENV
        async with session_factory(old_only)() as session:
            with pytest.raises(DecryptionError):
                await session.scalars(select(User.totp_secret))
    finally:
        await new_only.dispose()
        await old_only.dispose()

    again = _cli({**env, "ENCRYPTION_KEY_PREVIOUS": old_b64}, "admin", "rotate-encryption-key")
    assert again.returncode == 0 and "re-encrypted 0 value(s)" in again.stdout


async def test_rotation_stops_on_undecryptable_value_without_corrupting(
    engine: AsyncEngine, settings: Settings, database_url: str
) -> None:
    await _seed(engine, users=2)
    conn = await asyncpg.connect(_dsn(database_url))
    try:
        await conn.execute(
            "update users set totp_secret = 'plaintext-oops' where email = 'u1@example.com'"
        )
    finally:
        await conn.close()
    old_b64 = base64.b64encode(settings.require_encryption_key()).decode()
    new_b64 = base64.b64encode(generate_key()).decode()
    result = _cli(
        {
            "DATABASE_URL": database_url,
            "ENCRYPTION_KEY": new_b64,
            "ENCRYPTION_KEY_PREVIOUS": old_b64,
        },
        "admin",
        "rotate-encryption-key",
    )
    assert result.returncode == 1
    assert "users.totp_secret row" in result.stderr and "not Meshploy ciphertext" in result.stderr
    # The good row of the failed batch is untouched: still readable under the old key.
    async with session_factory(engine)() as session:
        user = (await session.scalars(select(User).where(User.email == "u0@example.com"))).one()
        assert user.totp_secret == f"{TOTP}0"
