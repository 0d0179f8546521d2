"""Login rate limiting per account and per client address, shared through PostgreSQL.

Fixed windows: a failed login adds one to the counter of ``(key, window start)`` with a
single atomic upsert, so every API process sees the same count and no lock is held. When a
counter reaches its limit, further logins for that key answer 429 with ``Retry-After`` set
to the end of the window. A successful login clears the account's counter (not the
address's, so one valid account cannot be used to reset an attacker's address budget).
At a window boundary up to twice the limit can pass in quick succession; that is the
accepted cost of one row per key instead of one per attempt.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from meshploy_core.accounts.models import RateLimitBucket
from meshploy_core.db.base import utcnow
from meshploy_core.errors import RateLimited
from meshploy_core.settings import Settings


def account_key(email: str) -> str:
    """The counter key of an account (a hash, so unknown addresses are not stored)."""
    digest = hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()[:40]
    return f"login:account:{digest}"


def address_key(ip: str | None) -> str | None:
    """The counter key of a client address; IPv6 clients are grouped by their /64."""
    if not ip:
        return None
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if addr.version == 6:
        return f"login:ip:{ipaddress.ip_network(f'{addr}/64', strict=False)}"
    return f"login:ip:{addr}"


@dataclass(frozen=True)
class LoginRateLimiter:
    """Failures allowed per account and per address within ``window`` seconds."""

    account_limit: int = 10
    ip_limit: int = 50
    window: int = 900

    @classmethod
    def from_settings(cls, settings: Settings) -> LoginRateLimiter:
        """The limits configured by ``MESHPLOY_LOGIN_*``."""
        return cls(settings.login_account_limit, settings.login_ip_limit, settings.login_window)

    def _window_start(self, now: datetime) -> datetime:
        seconds = int(now.timestamp()) // self.window * self.window
        return datetime.fromtimestamp(seconds, UTC)

    def _keys(self, email: str, ip: str | None) -> list[tuple[str, int]]:
        keys = [(account_key(email), self.account_limit)]
        ip_key = address_key(ip)
        if ip_key is not None:
            keys.append((ip_key, self.ip_limit))
        return keys

    async def check(
        self, session: AsyncSession, email: str, ip: str | None, now: datetime | None = None
    ) -> None:
        """Raise :class:`RateLimited` if the account or the address used up its budget."""
        now = now or utcnow()
        start = self._window_start(now)
        for key, limit in self._keys(email, ip):
            count = await session.scalar(
                select(RateLimitBucket.count).where(
                    RateLimitBucket.key == key, RateLimitBucket.window_start == start
                )
            )
            if count is not None and count >= limit:
                retry = (start + timedelta(seconds=self.window) - now).total_seconds()
                raise RateLimited(
                    "too many failed logins; wait before trying again "
                    f"(retry in {max(1, int(retry) + 1)} s)",
                    retry_after=int(retry) + 1,
                )

    async def record_failure(
        self, session: AsyncSession, email: str, ip: str | None, now: datetime | None = None
    ) -> None:
        """Count one failed login against the account and the address."""
        now = now or utcnow()
        start = self._window_start(now)
        for key, _limit in self._keys(email, ip):
            stmt = insert(RateLimitBucket).values(key=key, window_start=start, count=1)
            stmt = stmt.on_conflict_do_update(
                index_elements=[RateLimitBucket.key, RateLimitBucket.window_start],
                set_={"count": RateLimitBucket.count + 1},
            )
            await session.execute(stmt)
        # Old windows are useless; the table only ever holds the current window's failures.
        await session.execute(delete(RateLimitBucket).where(RateLimitBucket.window_start < start))

    async def clear_account(self, session: AsyncSession, email: str) -> None:
        """Forget the account's failures (after a successful login)."""
        await session.execute(
            delete(RateLimitBucket).where(RateLimitBucket.key == account_key(email))
        )
