"""``meshploy serve``: the API and dashboard."""

from __future__ import annotations

import asyncio

import click

from meshploy_core.cli.common import fail, settings_from_context
from meshploy_core.errors import MeshployError
from meshploy_core.logs import configure_logging


@click.command("serve")
@click.option("--host", default=None, help="Address to bind (default MESHPLOY_HOST or 127.0.0.1).")
@click.option("--port", default=None, type=click.IntRange(1, 65535), help="Port (default 8080).")
@click.pass_context
def serve_cmd(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Serve the API and dashboard with Hypercorn (the schema must be current)."""
    from meshploy_core.app.factory import create_app
    from meshploy_core.db import migrate
    from meshploy_core.db.engine import create_engine
    from meshploy_core.serving import serve_until_signalled

    settings = settings_from_context(ctx)
    configure_logging(settings.log_level)
    manager = ctx.find_root().obj.get("plugins")

    async def go() -> None:
        engine = create_engine(settings, pool_size=1)
        try:
            state = await migrate.schema_state(engine)
        finally:
            await engine.dispose()
        if state.status is not migrate.SchemaStatus.CURRENT:
            raise MeshployError(
                f"database schema is {state.status.value} (at {state.current or 'empty'}, this "
                f"code expects {state.head}); run: meshploy db upgrade"
            )
        app = create_app(settings, manager)
        bind_host, bind_port = host or settings.host, port or settings.port
        click.echo(f"serving on http://{bind_host}:{bind_port}", err=True)
        await serve_until_signalled(app, bind_host, bind_port)

    try:
        asyncio.run(go())
    except MeshployError as exc:
        fail(str(exc))
