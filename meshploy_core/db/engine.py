"""Engine and session factory construction (one engine per app or command)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from meshploy_core.db import schema  # noqa: F401  (every table in the metadata before any query)
from meshploy_core.encryption.columns import attach_keyring
from meshploy_core.encryption.keyring import KeyRing
from meshploy_core.settings import Settings


def keyring_from_settings(settings: Settings) -> KeyRing:
    """The key ring for ``settings``; raises ConfigError when ENCRYPTION_KEY is missing."""
    return KeyRing.from_keys(settings.require_encryption_key(), settings.previous_encryption_keys)


def create_engine(
    settings: Settings, *, pool_size: int = 10, require_key: bool = True
) -> AsyncEngine:
    """Create the async engine for ``settings`` with the encryption key ring attached.

    ``require_key=False`` is only for commands that never touch encrypted columns (migrations).
    """
    engine = create_async_engine(
        settings.require_database_url(),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        connect_args={"timeout": 10, "server_settings": {"application_name": "meshploy"}},
    )
    if require_key or settings.encryption_key is not None:
        attach_keyring(engine, keyring_from_settings(settings))
    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded attributes after commit (no hidden refresh IO)."""
    return async_sessionmaker(engine, expire_on_commit=False)
