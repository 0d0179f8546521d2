"""Leader election with a PostgreSQL session-level advisory lock.

Exactly one worker holds the lock at a time; it lives as long as the lock's dedicated
connection, so a worker killed with SIGKILL loses it the moment PostgreSQL notices the
connection is gone, and another worker takes over.
"""

from __future__ import annotations

import logging

import asyncpg

log = logging.getLogger(__name__)

#: Arbitrary, fixed: "meshploy" in ASCII, as a signed 64-bit key.
RECONCILER_LOCK_KEY = 0x6D657368706C6F79


def asyncpg_dsn(database_url: str) -> str:
    """The asyncpg/libpq form of a SQLAlchemy PostgreSQL URL."""
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


class LeaderLock:
    """Try to become leader; check that leadership still holds; give it up."""

    def __init__(self, database_url: str, key: int = RECONCILER_LOCK_KEY) -> None:
        self._dsn = asyncpg_dsn(database_url)
        self._key = key
        self._conn: asyncpg.Connection | None = None

    @property
    def held(self) -> bool:
        """Whether we believe we hold the lock (verify with :meth:`still_held`)."""
        return self._conn is not None

    async def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; never blocks."""
        if self._conn is not None:
            return await self.still_held()
        conn = await asyncpg.connect(
            self._dsn, timeout=10, server_settings={"application_name": "meshploy-worker"}
        )
        got = bool(await conn.fetchval("select pg_try_advisory_lock($1)", self._key))
        if got:
            self._conn = conn
            log.info("became the reconciler leader")
        else:
            await conn.close()
        return got

    async def still_held(self) -> bool:
        """Whether the lock's connection is alive (so the lock is still ours)."""
        if self._conn is None:
            return False
        try:
            await self._conn.fetchval("select 1", timeout=5)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            log.warning("lost the reconciler lock's connection; leadership lost")
            await self._drop()
            return False
        return True

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close(timeout=5)
            except (OSError, asyncpg.PostgresError, TimeoutError):
                conn.terminate()

    async def release(self) -> None:
        """Give up leadership (closing the connection releases the lock)."""
        await self._drop()
