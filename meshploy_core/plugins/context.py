"""What a plugin is handed with every hook: :class:`PluginContext`.

A context carries the plugin's own settings (its ``[plugins.<name>]`` table in the TOML file
and ``MESHPLOY_PLUGIN_<NAME>__<KEY>`` environment variables, validated by the model the
plugin declares with the ``plugin_settings`` hook), a logger named after the plugin, which
process is calling, the core's settings, and what that process can offer
(:class:`ProcessResources`). The plugin manager builds one per plugin and call.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from meshploy_core.errors import PluginError
from meshploy_core.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from meshploy_core.kube.adapter import KubeAdapter


class Process(enum.StrEnum):
    """Which Meshploy process is calling a hook."""

    #: ``meshploy serve`` (and the API inside ``meshploy dev``).
    API = "api"
    #: ``meshploy worker``: the reconciler and background jobs.
    WORKER = "worker"
    #: Any other ``meshploy`` command.
    CLI = "cli"


@dataclass(frozen=True)
class NoSettings:
    """The settings of a plugin that declares none (any key given to it is an error)."""


@dataclass(frozen=True)
class ProcessResources:
    """What the calling process can offer plugins; ``None`` where it has none.

    ``sessions`` is there in the API (once it serves) and in the worker; ``kube`` opens (or
    returns) the process's Kubernetes connection and is there where a cluster is configured.
    """

    sessions: async_sessionmaker[AsyncSession] | None = None
    kube: Callable[[], Awaitable[KubeAdapter]] | None = None


@dataclass(frozen=True)
class PluginContext:
    """A plugin's settings, logger and the calling process's resources."""

    #: The plugin's name (its ``meshploy`` entry-point name).
    plugin: str
    #: The plugin's validated settings: an instance of its ``plugin_settings`` model.
    settings: Any
    #: ``meshploy.plugins.<name>``: log through this, never print.
    log: logging.Logger
    #: The process calling the hook.
    process: Process
    #: The core's settings (domain, ports, ...); secrets in it are not for plugins to log.
    core: Settings = field(repr=False)
    resources: ProcessResources = field(default_factory=ProcessResources)

    def session(self) -> AsyncSession:
        """A new database session (one per task; close it). Raises when the process has none."""
        if self.resources.sessions is None:
            raise PluginError(
                f"plugin {self.plugin}: the {self.process.value} process offers no database "
                "here (hooks that need one run in the API once it serves, and in the worker)"
            )
        return self.resources.sessions()


def plugin_logger(name: str) -> logging.Logger:
    """The logger a plugin's context carries."""
    return logging.getLogger(f"meshploy.plugins.{name}")
