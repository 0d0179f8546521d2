"""``meshploy completion bash|zsh|fish``: print the shell completion script.

It is click's own completion (the same script ``_MESHPLOY_COMPLETE=bash_source meshploy``
prints); add ``eval "$(meshploy completion bash)"`` to ``~/.bashrc`` (zsh: ``~/.zshrc``;
fish: ``meshploy completion fish > ~/.config/fish/completions/meshploy.fish``).
"""

from __future__ import annotations

import click

SHELLS = ("bash", "zsh", "fish")


@click.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def completion_cmd(ctx: click.Context, shell: str) -> None:
    """Print the completion script for SHELL (bash, zsh or fish)."""
    from click.shell_completion import get_completion_class

    cls = get_completion_class(shell)
    assert cls is not None
    root = ctx.find_root().command
    click.echo(cls(root, {}, "meshploy", "_MESHPLOY_COMPLETE").source(), nl=False)
