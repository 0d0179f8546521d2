"""``meshploy db``: apply and inspect migrations."""

from __future__ import annotations

import click

from meshploy_core.cli.common import run, settings_from_context
from meshploy_core.db import migrate
from meshploy_core.db.engine import create_engine


@click.group("db")
def db() -> None:
    """Database schema migrations."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@click.pass_context
def upgrade_cmd(ctx: click.Context, revision: str) -> None:
    """Apply migrations (refuses, changing nothing, if the database is newer than the code)."""
    settings = settings_from_context(ctx)

    async def go() -> migrate.SchemaState:
        engine = create_engine(settings, pool_size=1, require_key=False)
        try:
            return await migrate.upgrade(engine, revision)
        finally:
            await engine.dispose()

    result = run(go())
    click.echo(f"database at migration {result.current} ({result.status.value})")


@db.command("downgrade")
@click.argument("revision")
@click.pass_context
def downgrade_cmd(ctx: click.Context, revision: str) -> None:
    """Revert migrations down to REVISION (``base`` drops every table)."""
    settings = settings_from_context(ctx)

    async def go() -> migrate.SchemaState:
        engine = create_engine(settings, pool_size=1, require_key=False)
        try:
            return await migrate.downgrade(engine, revision)
        finally:
            await engine.dispose()

    result = run(go())
    click.echo(f"database at migration {result.current or 'base'}")


@db.command("current")
@click.pass_context
def current_cmd(ctx: click.Context) -> None:
    """Show the database's migration and whether it matches this code."""
    settings = settings_from_context(ctx)

    async def go() -> migrate.SchemaState:
        engine = create_engine(settings, pool_size=1, require_key=False)
        try:
            return await migrate.schema_state(engine)
        finally:
            await engine.dispose()

    state = run(go())
    click.echo(f"database: {state.current or 'empty'}; code: {state.head}; {state.status.value}")
