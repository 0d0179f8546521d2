"""The ``meshploy`` root command. Plugins add their own commands through ``register_commands``.

Nothing heavy is imported to start: built-in commands are imported when they are run (their
help line is known without importing them), the API command groups build their commands on
first use, and plugins are loaded only when a command is not a built-in one or the command
list is shown. So ``meshploy --help`` and ``meshploy project list`` never build the app or
import the database layer.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from meshploy_core import __version__
from meshploy_core.cli.nouns import noun_groups
from meshploy_core.errors import ConfigError, MeshployError, PluginError
from meshploy_core.plugins.catalogs import current_plugin
from meshploy_core.plugins.manager import CONTEXT, PluginManager
from meshploy_core.settings import Settings, load_settings

#: Built-in commands: name -> ("module:attribute", help line shown by ``meshploy --help``).
BUILTINS = {
    "admin": ("meshploy_core.cli.admin:admin", "Administrative operations."),
    "completion": (
        "meshploy_core.cli.completion:completion_cmd",
        "Print the shell completion script (bash, zsh or fish).",
    ),
    "db": ("meshploy_core.cli.db:db", "Database schema migrations."),
    "mcp": ("meshploy_core.cli.mcp_cmd:mcp_cmd", "Serve the API as MCP tools over stdio."),
    "plugins": ("meshploy_core.cli.plugins:plugins", "Inspect installed plugins."),
    "serve": ("meshploy_core.cli.serve:serve_cmd", "Serve the API and dashboard."),
    "worker": ("meshploy_core.cli.worker:worker_cmd", "Run the reconciler worker."),
}


def _settings_or_defaults(ctx: click.Context | None) -> Settings:
    """The settings plugins see in the CLI; a broken config file is reported by the command
    that needs it, so plugins then see the defaults."""
    config = ((ctx.find_root().obj or {}) if ctx is not None else {}).get("config")
    try:
        return load_settings(config_file=config)
    except ConfigError:
        return Settings()


class RootGroup(click.Group):
    """The root group: built-ins imported on use, plugin commands loaded on demand."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.manager: PluginManager | None = None

    def plugin_manager(self, ctx: click.Context | None = None) -> PluginManager:
        """Load plugins (once) and let them add their commands."""
        if self.manager is None:
            self.manager = PluginManager.load(settings=_settings_or_defaults(ctx))
            self.manager.call_sync("register_commands", cli=self, context=CONTEXT)
        if ctx is not None:
            obj = ctx.find_root().ensure_object(dict)
            obj.setdefault("plugins", self.manager)
        return self.manager

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        """Add a command; a plugin may not replace one that exists (built-in or another's)."""
        name = name or cmd.name
        plugin = current_plugin.get()
        if plugin != "<core>" and (name in self.commands or name in BUILTINS):
            raise PluginError(f"{plugin}: the command {name!r} exists already; not replaced")
        super().add_command(cmd, name)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in BUILTINS:
            module, _, attr = BUILTINS[cmd_name][0].partition(":")
            command = getattr(importlib.import_module(module), attr)
            self.add_command(command, cmd_name)
        if cmd_name not in self.commands:
            self.plugin_manager(ctx)
        return self.commands.get(cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self.plugin_manager(ctx)
        return sorted(set(self.commands) | set(BUILTINS))

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Like click's, but built-ins not yet imported show their static help line."""
        rows = []
        for name in self.list_commands(ctx):
            loaded = self.commands.get(name)
            if loaded is not None:
                if loaded.hidden:
                    continue
                rows.append((name, loaded.get_short_help_str(formatter.width - 6 - len(name))))
            else:
                rows.append((name, BUILTINS[name][1]))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=RootGroup, context_settings={"help_option_names": ["-h", "--help"]})
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


# The API's commands (`meshploy project list`, ...), built from the operation table on use.
for group in noun_groups():
    cli.add_command(group)


def build_cli() -> tuple[click.Group, PluginManager]:
    """The root group with every plugin's commands added."""
    assert isinstance(cli, RootGroup)
    return cli, cli.plugin_manager()


def main(argv: list[str] | None = None) -> None:
    """Console entry point: one-line errors, exit 1 on failure, 2 on usage errors."""
    try:
        cli.main(args=argv, prog_name="meshploy", obj={}, standalone_mode=True)
    except MeshployError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
