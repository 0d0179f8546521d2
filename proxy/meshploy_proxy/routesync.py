"""Keeping the route table in step with PostgreSQL: load, LISTEN/NOTIFY, resync, reconnect.

On (re)connect: ``LISTEN meshploy_routes`` first, then a full load, so no change can fall
between the two. Each notification names a hostname; notifications are coalesced and the
named hosts re-read in one query (a burst of more than :data:`FULL_RELOAD_AFTER` hosts, or a
TRUNCATE, triggers a full load instead). Every ``resync_interval`` seconds a fingerprint of the
whole table (row count and a sum of row hashes, computed by PostgreSQL) is compared with the
one taken at the last full load; a difference (a lost notification, a disabled trigger,
changes applied since) triggers a full load. While the database is unreachable the last good
table keeps serving and the connection is retried with capped exponential backoff.

Full loads stream rows through a server-side cursor and build a new table beside the old
one, yielding to the event loop between batches, then swap it in at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Callable
from typing import Any

import asyncpg

from meshploy_proxy.routes import Route, RouteBuilder, Router, RouteRow, RouteTable
from meshploy_proxy.upstream import UpstreamRegistry

log = logging.getLogger(__name__)

CHANNEL = "meshploy_routes"
FULL_RELOAD_AFTER = 1000
BATCH = 5000
_COLUMNS = "id::text AS id, hostname, path_prefix, upstreams::text AS upstreams"
_FINGERPRINT = (
    "SELECT count(*)::text || ':' || coalesce(sum(hashtextextended("
    "id::text || '|' || hostname || '|' || path_prefix || '|' || upstreams::text, 0)"
    "::numeric), 0)::text FROM routes"
)
_DB_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError)


class RouteSync:
    """Owns the LISTEN connection and every write to the worker's :class:`Router`."""

    def __init__(
        self,
        dsn: str,
        router: Router,
        registry: UpstreamRegistry,
        *,
        resync_interval: float = 30.0,
        on_loaded: Callable[[], None] | None = None,
    ) -> None:
        self.dsn = dsn
        self.router = router
        self.registry = registry
        self.resync_interval = resync_interval
        self.on_loaded = on_loaded
        self.connected = False
        self.full_loads = 0
        self._conn: Any = None
        self._pending: set[str] = set()
        self._need_full = False
        self._dirty = False
        self._fingerprint: str | None = None
        self._wake = asyncio.Event()
        self._lost = False

    # -- notifications ------------------------------------------------------------------

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            data = json.loads(payload)
            op = data.get("op")
            hostname = data.get("hostname")
        except (ValueError, AttributeError):
            op, hostname = None, None
        if op == "TRUNCATE" or not isinstance(hostname, str):
            self._need_full = True
        else:
            self._pending.add(hostname)
            if len(self._pending) > FULL_RELOAD_AFTER:
                self._need_full = True
        self._wake.set()

    def _on_terminated(self, _conn: Any) -> None:
        self._lost = True
        self._wake.set()

    # -- the loop -----------------------------------------------------------------------

    async def run(self) -> None:
        """Sync forever (cancel to stop); never raises on database trouble."""
        backoff = 0.2
        while True:
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except _DB_ERRORS as exc:
                if self.connected:
                    log.warning("route database connection lost: %s", _describe(exc))
                else:
                    log.warning("route database unreachable: %s", _describe(exc))
            except Exception:
                log.exception("route sync failed; retrying")
            finally:
                self.connected = False
                await self._close()
            await asyncio.sleep(backoff * (0.5 + random.random()))  # noqa: S311 - jitter
            backoff = min(backoff * 2, 5.0)
            if self.router.loaded and self.full_loads:
                backoff = min(backoff, 2.0)

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.terminate()

    async def _session(self) -> None:
        self._lost = False
        conn = await asyncpg.connect(
            self.dsn,
            timeout=5,
            command_timeout=60,
            server_settings={"application_name": "meshploy-proxy"},
        )
        self._conn = conn
        conn.add_termination_listener(self._on_terminated)
        await conn.add_listener(CHANNEL, self._on_notify)
        self._pending.clear()
        self._need_full = False
        await self.full_load(conn)
        self.connected = True
        log.info("route table loaded: %d routes", len(self.router.table))
        next_resync = time.monotonic() + self.resync_interval
        while True:
            timeout = max(0.0, next_resync - time.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            self._wake.clear()
            if self._lost or conn.is_closed():
                raise ConnectionResetError("connection closed")
            if self._need_full:
                self._need_full = False
                self._pending.clear()
                await self.full_load(conn)
            elif self._pending:
                hosts, self._pending = self._pending, set()
                await self.load_hosts(conn, hosts)
            if time.monotonic() >= next_resync:
                await self.resync(conn)
                next_resync = time.monotonic() + self.resync_interval

    # -- loading ------------------------------------------------------------------------

    async def full_load(self, conn: Any) -> None:
        """Read every route into a new table and swap it in."""
        builder = RouteBuilder(self.registry.get)
        table = RouteTable()
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            fingerprint = await conn.fetchval(_FINGERPRINT)
            cursor = await conn.cursor(f"SELECT {_COLUMNS} FROM routes")
            while True:
                rows = await cursor.fetch(BATCH)
                if not rows:
                    break
                table.add_all(builder.build(_row(r)) for r in rows)
                await asyncio.sleep(0)  # let requests through between batches
        self.router.table = table
        self._fingerprint = fingerprint
        self._dirty = False
        self.full_loads += 1
        self._mark_synced(builder)
        keep = {up for route in table.routes() for up in route.upstreams}
        self.registry.retain(keep)
        if self.on_loaded is not None:
            self.on_loaded()

    async def load_hosts(self, conn: Any, hosts: set[str]) -> None:
        """Re-read the routes of ``hosts`` (from notifications) and replace them in place."""
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM routes WHERE hostname = ANY($1::text[])",
            list(hosts),
        )
        builder = RouteBuilder(self.registry.get)
        grouped: dict[str, list[Route]] = {h: [] for h in hosts}
        for record in rows:
            route = builder.build(_row(record))
            grouped.setdefault(record["hostname"], []).append(route)
        table = self.router.table
        for hostname, routes in grouped.items():
            table.replace_host(hostname, routes)
        self._dirty = True
        self._mark_synced(builder)

    async def resync(self, conn: Any) -> None:
        """Compare fingerprints; reload everything if the table drifted or changed."""
        fingerprint = await conn.fetchval(_FINGERPRINT)
        if self._dirty or fingerprint != self._fingerprint:
            await self.full_load(conn)
        else:
            self.router.synced_at = time.time()

    def _mark_synced(self, builder: RouteBuilder) -> None:
        if builder.invalid:
            log.warning("ignored %d malformed upstream entries in routes", builder.invalid)
        self.router.synced_at = time.time()
        self.router.loaded = True


def _row(record: Any) -> RouteRow:
    return RouteRow(record["id"], record["hostname"], record["path_prefix"], record["upstreams"])


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".strip()
