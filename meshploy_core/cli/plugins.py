"""``meshploy plugins``: what is loaded and from where."""

from __future__ import annotations

import json

import click

from meshploy_core.plugins.manager import PluginManager


@click.group("plugins")
def plugins() -> None:
    """Inspect installed plugins."""


@plugins.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.pass_context
def list_cmd(ctx: click.Context, as_json: bool) -> None:
    """Each plugin, where it came from (built-in or its distribution) and its hooks."""
    manager = ctx.find_root().obj.get("plugins") or PluginManager.load()
    assert isinstance(manager, PluginManager)
    infos = manager.plugins()
    if as_json:
        rows = [i.to_json() for i in infos]
        rows += [{**f.to_json(), "hooks": []} for f in manager.failures]
        click.echo(json.dumps(rows, indent=2))
        return
    width = max([len(i.name) for i in infos] + [len(f.name) for f in manager.failures] + [4])
    for info in infos:
        click.echo(f"{info.name:<{width}}  {info.source:<12}  {', '.join(info.hooks) or '-'}")
    for failure in manager.failures:
        click.echo(
            f"{failure.name:<{width}}  {failure.source:<12}  FAILED ({failure.stage}): "
            f"{failure.error}"
        )
