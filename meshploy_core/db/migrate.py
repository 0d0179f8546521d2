"""Apply, inspect and revert the Alembic migrations shipped with this package.

Migrations are append-only: a released revision is never edited, only followed by a new one.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from meshploy_core.errors import DatabaseError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config() -> Config:
    """An Alembic config pointing at the packaged migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def script_directory() -> ScriptDirectory:
    """The migration scripts this code knows."""
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The newest migration this code knows (a single head is enforced)."""
    heads = script_directory().get_heads()
    if len(heads) != 1:
        raise DatabaseError(f"migrations have {len(heads)} heads; expected exactly one")
    return heads[0]


class SchemaStatus(enum.Enum):
    """How a database's schema relates to this code."""

    EMPTY = "empty"
    BEHIND = "behind"
    CURRENT = "current"
    AHEAD = "ahead"


@dataclass(frozen=True)
class SchemaState:
    """The database's revision, ours, and how they relate."""

    current: str | None
    head: str
    status: SchemaStatus


def _current(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


async def _with_connection(engine: AsyncEngine) -> str | None:
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_current)
    except (OSError, OperationalError, DBAPIError) as exc:
        raise DatabaseError(f"cannot reach the database: {_short(exc)}") from None


def _short(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


async def schema_state(engine: AsyncEngine) -> SchemaState:
    """Compare the database's revision with this code's head."""
    current = await _with_connection(engine)
    head = head_revision()
    if current is None:
        status = SchemaStatus.EMPTY
    elif current == head:
        status = SchemaStatus.CURRENT
    else:
        known = {rev.revision for rev in script_directory().walk_revisions()}
        status = SchemaStatus.BEHIND if current in known else SchemaStatus.AHEAD
    return SchemaState(current=current, head=head, status=status)


def _ahead_error(state: SchemaState) -> DatabaseError:
    return DatabaseError(
        f"the database is at migration {state.current}, which this version of Meshploy does "
        f"not know (its newest is {state.head}); upgrade Meshploy instead of downgrading the "
        "database. Nothing was changed."
    )


async def upgrade(engine: AsyncEngine, revision: str = "head") -> SchemaState:
    """Apply migrations up to ``revision``; refuse (writing nothing) if the DB is ahead."""
    state = await schema_state(engine)
    if state.status is SchemaStatus.AHEAD:
        raise _ahead_error(state)

    def run(conn: Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)

    async with engine.begin() as conn:
        await conn.run_sync(run)
    return await schema_state(engine)


async def downgrade(engine: AsyncEngine, revision: str) -> SchemaState:
    """Revert migrations down to ``revision`` (``base`` removes every table)."""
    state = await schema_state(engine)
    if state.status is SchemaStatus.AHEAD:
        raise _ahead_error(state)

    def run(conn: Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)

    async with engine.begin() as conn:
        await conn.run_sync(run)
    return await schema_state(engine)
