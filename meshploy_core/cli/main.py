"""The ``meshploy`` root command. Plugins add their own commands through ``register_commands``.

Command modules are imported when the root group is built, but each keeps its heavy imports
inside the command function, so ``meshploy --help`` never builds the app.
"""

from __future__ import annotations

import sys

import click

from meshploy_core import __version__
from meshploy_core.cli.admin import admin
from meshploy_core.cli.db import db
from meshploy_core.cli.dev import dev
from meshploy_core.cli.plugins import plugins
from meshploy_core.cli.serve import serve_cmd
from meshploy_core.cli.worker import worker_cmd
from meshploy_core.errors import MeshployError
from meshploy_core.plugins.manager import PluginManager


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    type=click.Path(dir_okay=False),
    envvar="MESHPLOY_CONFIG",
    help="TOML file with settings (environment variables win).",
)
@click.version_option(__version__, prog_name="meshploy")
@click.pass_context
def cli(ctx: click.Context, config: str | None) -> None:
    """Meshploy: a self-hosted platform-as-a-service."""
    ctx.ensure_object(dict)
    ctx.obj["config"] = config


for command in (admin, db, dev, plugins, serve_cmd, worker_cmd):
    cli.add_command(command)


def build_cli() -> tuple[click.Group, PluginManager]:
    """The root group with every plugin's commands added."""
    manager = PluginManager.load()
    manager.call_each_sync("register_commands", cli=cli)
    return cli, manager


def main(argv: list[str] | None = None) -> None:
    """Console entry point: one-line errors, exit 1 on failure, 2 on usage errors."""
    group, manager = build_cli()
    try:
        group.main(args=argv, prog_name="meshploy", obj={"plugins": manager}, standalone_mode=True)
    except MeshployError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
