"""Helpers shared by CLI commands: settings loading, async running, error reporting."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from typing import Any, NoReturn, TypeVar

import click

from meshploy_core.errors import MeshployError
from meshploy_core.settings import Settings, load_settings

T = TypeVar("T")


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: message`` to stderr and exit with ``code``."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def settings_from_context(ctx: click.Context) -> Settings:
    """The settings for this invocation (``--config`` on the root group, then env)."""
    obj = ctx.find_root().obj or {}
    cached = obj.get("settings")
    if isinstance(cached, Settings):
        return cached
    settings = load_settings(config_file=obj.get("config"))
    obj["settings"] = settings
    return settings


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion, turning MeshployError into a one-line error and exit 1."""
    try:
        return asyncio.run(coro)
    except MeshployError as exc:
        fail(str(exc))
