"""Entry point of the test-bed plugin: adds ``meshploy dev`` (``meshploy`` group)."""

from __future__ import annotations

import click

from meshploy_core.plugins import hookimpl


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add ``meshploy dev`` (and ``meshploy dev cluster up|down|status``)."""
    from meshploy_testbed.commands import dev

    cli.add_command(dev)
