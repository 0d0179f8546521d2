"""Entry point of the edge proxy plugin: adds ``meshploy proxy`` (``meshploy`` group).

The command replaces the CLI process with ``python -m meshploy_proxy`` (``os.execv``): the CLI
has imported the ORM models and more, and the proxy is meant to start fast and stay small.
Options are forwarded unchanged; ``--config`` on the root command travels as
``MESHPLOY_CONFIG``.
"""

from __future__ import annotations

import os
import sys

import click

from meshploy_core.plugins import hookimpl


@click.command(
    "proxy",
    context_settings={"ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def proxy_cmd(ctx: click.Context, args: tuple[str, ...]) -> None:
    """Run the edge proxy (Host -> route table -> mesh upstreams). --help for options."""
    config = (ctx.find_root().obj or {}).get("config")
    if config:
        os.environ["MESHPLOY_CONFIG"] = str(config)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "meshploy_proxy", *args])  # noqa: S606


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add ``meshploy proxy``."""
    cli.add_command(proxy_cmd)
