"""``meshploy dev``: everything needed to try Meshploy on one machine.

Without ``DATABASE_URL`` it starts its own PostgreSQL (data kept under the data directory),
generates and keeps a dev ``ENCRYPTION_KEY``, applies migrations and serves the API.
"""

from __future__ import annotations

import asyncio
import dataclasses

import click

from meshploy_core.cli.common import fail, settings_from_context
from meshploy_core.devcluster.cli import cluster
from meshploy_core.errors import MeshployError
from meshploy_core.logs import configure_logging
from meshploy_core.settings import parse_key


@click.group("dev", invoke_without_command=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
@click.pass_context
def dev(ctx: click.Context, host: str, port: int) -> None:
    """Run Meshploy locally with embedded defaults (PostgreSQL, dev key)."""
    if ctx.invoked_subcommand is not None:
        return
    from meshploy_core import devenv
    from meshploy_core.app import create_app
    from meshploy_core.db import migrate
    from meshploy_core.db.engine import create_engine
    from meshploy_core.localpg import LocalPostgres
    from meshploy_core.serving import serve_until_signalled

    settings = settings_from_context(ctx)
    configure_logging(settings.log_level)
    root = devenv.data_dir()
    pg: LocalPostgres | None = None
    try:
        if settings.encryption_key is None:
            key = devenv.dev_encryption_key(root)
            settings = dataclasses.replace(
                settings, encryption_key=parse_key("ENCRYPTION_KEY", key)
            )
        if settings.database_url is None:
            click.echo(f"starting PostgreSQL in {root / 'postgres'} ...", err=True)
            pg = LocalPostgres(root / "postgres")
            pg.start()
            settings = dataclasses.replace(settings, database_url=pg.url())
        settings = dataclasses.replace(settings, secure_cookies=False)

        async def go() -> None:
            engine = create_engine(settings, pool_size=1)
            try:
                state = await migrate.upgrade(engine)
            finally:
                await engine.dispose()
            click.echo(f"database at migration {state.current}", err=True)
            app = create_app(settings, ctx.find_root().obj.get("plugins"))

            def ready() -> None:
                click.echo(f"MESHPLOY_API_URL=http://{host}:{port}")

            await serve_until_signalled(app, host, port, on_ready=ready)

        asyncio.run(go())
    except MeshployError as exc:
        fail(str(exc))
    finally:
        if pg is not None:
            pg.stop()


dev.add_command(cluster)
