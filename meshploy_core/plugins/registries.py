"""Typed registries handed to plugins by the ``register_*`` hooks.

A registry validates what it is given at start-up: the object must implement the kind's
Protocol, and a name may be registered only once. Errors name the plugin and what is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Generic, TypeVar

from meshploy_core.errors import PluginError
from meshploy_core.plugins.contracts import (
    BackupEngine,
    Builder,
    DnsProvider,
    ImageRegistry,
    NotifierFactory,
    Storage,
)

T = TypeVar("T")
_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


class Registry(Generic[T]):
    """Named items of one kind. ``add`` rejects duplicates and non-conforming objects."""

    kind: str = "item"
    protocol: type[object] = object

    def __init__(self) -> None:
        self._items: dict[str, T] = {}
        self._owners: dict[str, str] = {}
        self.current_plugin = "<core>"

    def add(self, name: str, item: T) -> None:
        """Register ``item`` under ``name``."""
        if not _NAME_RE.match(name):
            raise PluginError(
                f"{self.current_plugin}: {self.kind} name {name!r} is invalid; use lower-case "
                "letters, digits, '-' and '_', starting with a letter"
            )
        if name in self._items:
            raise PluginError(
                f"{self.current_plugin}: {self.kind} {name!r} is already registered by "
                f"{self._owners[name]}"
            )
        if not isinstance(item, self.protocol):
            raise PluginError(
                f"{self.current_plugin}: {self.kind} {name!r} does not implement "
                f"{self.protocol.__name__}"
            )
        self._items[name] = item
        self._owners[name] = self.current_plugin

    def get(self, name: str) -> T:
        """The item called ``name``; the error lists what is available."""
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "none"
            raise PluginError(f"no {self.kind} called {name!r}; available: {known}") from None

    def owner(self, name: str) -> str:
        """The plugin that registered ``name``."""
        return self._owners[name]

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._items)

    def __iter__(self) -> Iterator[tuple[str, T]]:
        return iter(sorted(self._items.items()))

    def __len__(self) -> int:
        return len(self._items)


class BuilderRegistry(Registry[Builder]):
    """Builders (Nixpacks, Railpack, Dockerfile, ...)."""

    kind = "builder"
    protocol = Builder


class DnsProviderRegistry(Registry[DnsProvider]):
    """DNS-01 providers (CoreDNS zone files, registrar APIs, ...)."""

    kind = "DNS provider"
    protocol = DnsProvider


class NotifierRegistry(Registry[NotifierFactory]):
    """Notifier kinds (webhook, Slack, Discord, email, ...)."""

    kind = "notifier"
    protocol = NotifierFactory


class ImageRegistryRegistry(Registry[ImageRegistry]):
    """Container registries (the built-in mesh registry, external ones)."""

    kind = "image registry"
    protocol = ImageRegistry


class StorageRegistry(Registry[Storage]):
    """Object storage backends."""

    kind = "storage backend"
    protocol = Storage


class BackupEngineRegistry(Registry[BackupEngine]):
    """Backup engines."""

    kind = "backup engine"
    protocol = BackupEngine
