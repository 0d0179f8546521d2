"""Column types: :class:`EncryptedString` seals values with AES-256-GCM on every write.

The key ring is attached to the engine's dialect by :func:`attach_keyring` when the engine is
created, so there is no module-level key and no plaintext fallback: an engine without a key
ring refuses to read or write encrypted columns.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Dialect, Text
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.types import TypeDecorator

from meshploy_core.encryption.keyring import KeyRing
from meshploy_core.errors import ConfigError

_ATTR = "meshploy_keyring"


def attach_keyring(engine: AsyncEngine | Engine, keyring: KeyRing) -> None:
    """Make ``keyring`` the one :class:`EncryptedString` columns use on ``engine``."""
    sync = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
    setattr(sync.dialect, _ATTR, keyring)


def keyring_of(dialect: Dialect) -> KeyRing:
    """Return the key ring attached to ``dialect`` or fail loudly."""
    ring = getattr(dialect, _ATTR, None)
    if ring is None:
        raise ConfigError(
            "ENCRYPTION_KEY is not configured for this database engine; encrypted columns "
            "cannot be read or written"
        )
    assert isinstance(ring, KeyRing)
    return ring


class EncryptedString(TypeDecorator[str]):
    """A TEXT column whose value is stored as AES-256-GCM ciphertext.

    ``purpose`` (conventionally ``table.column``) is bound into the ciphertext as associated
    data, so a value copied into another column fails to decrypt.
    """

    impl = Text
    cache_ok = True

    def __init__(self, purpose: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.purpose = purpose

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return keyring_of(dialect).encrypt(value, self.purpose)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return keyring_of(dialect).decrypt(value, self.purpose)
