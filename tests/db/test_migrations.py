"""Migrations on a real PostgreSQL: complete, reversible, and in step with the models."""

from __future__ import annotations

import asyncio
import json
import uuid

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

from meshploy_core.db import migrate
from meshploy_core.db.engine import create_engine
from meshploy_core.db.schema import Base
from meshploy_core.errors import DatabaseError
from tests.fixtures.postgres import settings_for

CORE_TABLES = {
    "organizations",
    "users",
    "memberships",
    "api_tokens",
    "projects",
    "services",
    "deployments",
    "domains",
    "routes",
    "nodes",
    "audit_events",
    "metric_samples",
}


def _diff(conn: Connection) -> list[object]:
    ctx = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(ctx, Base.metadata))


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("select tablename from pg_tables where schemaname = 'public'")
        )
        return {r[0] for r in rows}


async def test_every_migration_applies_to_empty_database_and_matches_models(
    empty_database_url: str,
) -> None:
    engine = create_engine(settings_for(empty_database_url), pool_size=1)
    try:
        before = await migrate.schema_state(engine)
        assert before.status is migrate.SchemaStatus.EMPTY
        after = await migrate.upgrade(engine)
        assert after.status is migrate.SchemaStatus.CURRENT, after
        assert await _tables(engine) >= CORE_TABLES
        async with engine.connect() as conn:
            diff = await conn.run_sync(_diff)
        assert diff == [], f"models and migrations drifted apart: {diff}"
    finally:
        await engine.dispose()


async def test_downgrade_to_base_and_upgrade_again(empty_database_url: str) -> None:
    engine = create_engine(settings_for(empty_database_url), pool_size=1)
    try:
        await migrate.upgrade(engine)
        down = await migrate.downgrade(engine, "base")
        assert down.current is None
        assert await _tables(engine) <= {"alembic_version"}
        up = await migrate.upgrade(engine)
        assert up.status is migrate.SchemaStatus.CURRENT
        assert await _tables(engine) >= CORE_TABLES
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
    finally:
        await engine.dispose()


async def test_each_step_down_and_up(empty_database_url: str) -> None:
    engine = create_engine(settings_for(empty_database_url), pool_size=1)
    revisions = [r.revision for r in migrate.script_directory().walk_revisions()][::-1]
    try:
        for rev in revisions:
            assert (await migrate.upgrade(engine, rev)).current == rev
        for rev in reversed(revisions[:-1]):
            assert (await migrate.downgrade(engine, rev)).current == rev
    finally:
        await engine.dispose()


async def test_database_ahead_of_code_is_refused_and_untouched(database_url: str) -> None:
    engine = create_engine(settings_for(database_url), pool_size=1)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("update alembic_version set version_num = 'fffffffffff9'"))
        state = await migrate.schema_state(engine)
        assert state.status is migrate.SchemaStatus.AHEAD
        with pytest.raises(DatabaseError, match="upgrade Meshploy") as info:
            await migrate.upgrade(engine)
        assert "Nothing was changed" in str(info.value)
        async with engine.connect() as conn:
            version = (await conn.execute(text("select version_num from alembic_version"))).one()
        assert version[0] == "fffffffffff9"
    finally:
        await engine.dispose()


async def test_unreachable_database_is_a_clear_error() -> None:
    engine = create_engine(settings_for("postgresql://nobody:pw@127.0.0.1:1/none"), pool_size=1)
    try:
        with pytest.raises(DatabaseError, match="cannot reach the database"):
            await migrate.schema_state(engine)
    finally:
        await engine.dispose()


async def _exec(conn: asyncpg.Connection, sql: str, *args: object) -> None:
    await conn.execute(sql, *args)


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def test_one_owner_per_organization(database_url: str) -> None:
    conn = await asyncpg.connect(_dsn(database_url))
    try:
        org = await conn.fetchval(
            "insert into organizations (name, slug) values ('A', 'a') returning id"
        )
        users = [
            await conn.fetchval(
                "insert into users (email, password_hash) values ($1, 'x') returning id",
                f"u{i}@example.com",
            )
            for i in range(2)
        ]
        await conn.execute(
            "insert into memberships (org_id, user_id, role) values ($1, $2, 'owner')",
            org,
            users[0],
        )
        with pytest.raises(asyncpg.UniqueViolationError, match="idx_one_owner_per_org"):
            await conn.execute(
                "insert into memberships (org_id, user_id, role) values ($1, $2, 'owner')",
                org,
                users[1],
            )
        # Admins are not limited, and the check constraint rejects unknown roles.
        await conn.execute(
            "insert into memberships (org_id, user_id, role) values ($1, $2, 'admin')",
            org,
            users[1],
        )
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute("update memberships set role = 'god' where user_id = $1", users[1])
        # Atomic transfer inside one transaction works.
        async with conn.transaction():
            await conn.execute("update memberships set role = 'admin' where user_id = $1", users[0])
            await conn.execute("update memberships set role = 'owner' where user_id = $1", users[1])
        owners = await conn.fetch("select user_id from memberships where role = 'owner'")
        assert [r[0] for r in owners] == [users[1]]
    finally:
        await conn.close()


async def test_domain_unique_per_org_and_verified_unique_globally(database_url: str) -> None:
    conn = await asyncpg.connect(_dsn(database_url))
    try:
        orgs = [
            await conn.fetchval(
                "insert into organizations (name, slug) values ($1, $1) returning id", s
            )
            for s in ("one", "two")
        ]
        insert = (
            "insert into domains (org_id, hostname, kind, verified_at) "
            "values ($1, $2, 'custom', $3)"
        )
        await conn.execute(insert, orgs[0], "myapp.com", None)
        with pytest.raises(asyncpg.UniqueViolationError, match="idx_unique_domain_per_org"):
            await conn.execute(insert, orgs[0], "myapp.com", None)
        # Another org may *claim* it (unverified) ...
        await conn.execute(insert, orgs[1], "myapp.com", None)
        await conn.execute("update domains set verified_at = now() where org_id = $1", orgs[0])
        # ... but only one organization can hold it verified.
        with pytest.raises(asyncpg.UniqueViolationError, match="idx_unique_verified_domain"):
            await conn.execute("update domains set verified_at = now() where org_id = $1", orgs[1])
    finally:
        await conn.close()


async def test_metric_samples_have_a_brin_index_on_time(database_url: str) -> None:
    conn = await asyncpg.connect(_dsn(database_url))
    try:
        method = await conn.fetchval(
            "select am.amname from pg_index i join pg_class c on c.oid = i.indexrelid "
            "join pg_am am on am.oid = c.relam where c.relname = 'idx_metric_samples_ts_brin'"
        )
        assert method == "brin"
    finally:
        await conn.close()


async def test_route_changes_are_notified(database_url: str) -> None:
    listener = await asyncpg.connect(_dsn(database_url))
    received: asyncio.Queue[str] = asyncio.Queue()
    await listener.add_listener("meshploy_routes", lambda *args: received.put_nowait(args[3]))
    writer = await asyncpg.connect(_dsn(database_url))
    try:
        route_id = uuid.uuid4()
        await writer.execute(
            "insert into routes (id, hostname, upstreams) values ($1, 'a.example.com', $2)",
            route_id,
            json.dumps([{"host": "100.64.0.2", "port": 30080}]),
        )
        await writer.execute("delete from routes where id = $1", route_id)
        first = json.loads(await asyncio.wait_for(received.get(), 5))
        second = json.loads(await asyncio.wait_for(received.get(), 5))
        assert first == {"op": "INSERT", "hostname": "a.example.com"}
        assert second == {"op": "DELETE", "hostname": "a.example.com"}
    finally:
        await listener.close()
        await writer.close()
