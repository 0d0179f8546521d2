"""``meshploy plugins``: what is loaded, from where, and what each plugin provides."""

from __future__ import annotations

import asyncio
import json

import click

from meshploy_core.plugins.manager import PluginInfo, PluginManager


@click.group("plugins")
def plugins() -> None:
    """Inspect installed plugins."""


def _provides(info: PluginInfo) -> str:
    parts = [f"{kind}: {', '.join(names)}" for kind, names in sorted(info.provides.items())]
    others = [h for h in info.hooks if h in ("register_routes", "register_commands")]
    parts += [h.removeprefix("register_") for h in others]
    return "; ".join(parts) or "-"


@plugins.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.pass_context
def list_cmd(ctx: click.Context, as_json: bool) -> None:
    """Each plugin, where it came from (built-in or its distribution) and what it provides
    (``notifiers: webhook``, ``registries: stored-logins``, routes, commands)."""
    manager = ctx.find_root().obj.get("plugins") or PluginManager.load()
    assert isinstance(manager, PluginManager)
    infos = asyncio.run(manager.plugins())
    if as_json:
        rows = [i.to_json() for i in infos]
        rows += [{**f.to_json(), "hooks": [], "provides": {}} for f in manager.failures]
        click.echo(json.dumps(rows, indent=2))
        return
    width = max([len(i.name) for i in infos] + [len(f.name) for f in manager.failures] + [4])
    for info in infos:
        click.echo(f"{info.name:<{width}}  {info.source:<12}  {_provides(info)}")
    for failure in manager.failures:
        click.echo(
            f"{failure.name:<{width}}  {failure.source:<12}  FAILED ({failure.stage}): "
            f"{failure.error}"
        )
