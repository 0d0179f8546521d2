"""Typed catalogs handed to plugins by the ``register_*`` hooks.

A catalog holds the factories of one kind (notifiers, builders, ...), keyed by the factory's
``kind``. It validates what it is given at start-up: the object must implement the kind's
factory Protocol, a kind may be registered only once, and names are lower-case identifiers.
Errors name the plugin and what is wrong. The plugin manager records which plugin added each
entry (``owner``), so ``meshploy plugins list`` can say who provides what.
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Iterator
from typing import Any, Generic, TypeVar

from meshploy_core.errors import PluginError
from meshploy_core.plugins.contracts import (
    BackupEngineFactory,
    BuilderFactory,
    DnsProviderFactory,
    Factory,
    ImageRegistryFactory,
    MeshProviderFactory,
    NotifierFactory,
    StorageFactory,
)

T = TypeVar("T")
_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")

#: The plugin whose hook implementation is running (set by the plugin manager).
current_plugin: contextvars.ContextVar[str] = contextvars.ContextVar(
    "meshploy_current_plugin", default="<core>"
)


def config_of(factory: Any, raw: Any) -> Any:
    """Validate ``raw`` (a mapping, or already an instance) against ``factory.config_type``.

    Dataclasses and pydantic models both work; the error is pydantic's, naming each field.
    """
    from pydantic import TypeAdapter

    config_type = factory.config_type
    if isinstance(raw, config_type):
        return raw
    return TypeAdapter(config_type).validate_python(raw)


class Catalog(Generic[T]):
    """Factories of one kind, by name. ``add`` rejects duplicates and non-conforming objects."""

    kind: str = "item"
    #: What every entry must implement (all kinds register a :class:`Factory`).
    protocol: type[object] = Factory

    def __init__(self) -> None:
        self._items: dict[str, T] = {}
        self._owners: dict[str, str] = {}

    def add(self, name: str, factory: T) -> None:
        """Register ``factory`` under ``name`` (usually the factory's own ``kind``)."""
        plugin = current_plugin.get()
        if not _NAME_RE.match(name):
            raise PluginError(
                f"{plugin}: {self.kind} name {name!r} is invalid; use lower-case "
                "letters, digits, '-' and '_', starting with a letter"
            )
        if name in self._items:
            raise PluginError(
                f"{plugin}: {self.kind} {name!r} is already registered by {self._owners[name]}"
            )
        if not isinstance(factory, self.protocol):
            raise PluginError(
                f"{plugin}: {self.kind} {name!r} does not implement a factory (kind, "
                "description, config_type, create)"
            )
        self._items[name] = factory
        self._owners[name] = plugin

    def get(self, name: str) -> T:
        """The factory called ``name``; the error lists what is available."""
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

    def by_plugin(self) -> dict[str, list[str]]:
        """``{plugin: [names it registered]}``."""
        found: dict[str, list[str]] = {}
        for name in self.names():
            found.setdefault(self._owners[name], []).append(name)
        return found

    def __iter__(self) -> Iterator[tuple[str, T]]:
        return iter(sorted(self._items.items()))

    def __len__(self) -> int:
        return len(self._items)


class BuilderCatalog(Catalog[BuilderFactory]):
    """Builders (Nixpacks, Railpack, Dockerfile, ...)."""

    kind = "builder"
    protocol = Factory


class DnsProviderCatalog(Catalog[DnsProviderFactory]):
    """DNS-01 providers (CoreDNS zone files, registrar APIs, ...)."""

    kind = "DNS provider"
    protocol = Factory


class MeshProviderCatalog(Catalog[MeshProviderFactory]):
    """Mesh control planes (Headscale)."""

    kind = "mesh provider"
    protocol = Factory


class NotifierCatalog(Catalog[NotifierFactory]):
    """Notifier kinds (webhook, Slack, Discord, email, ...)."""

    kind = "notifier"
    protocol = Factory


class ImageRegistryCatalog(Catalog[ImageRegistryFactory]):
    """Container image registries (stored logins, the mesh registry)."""

    kind = "image registry"
    protocol = Factory


class StorageCatalog(Catalog[StorageFactory]):
    """Object storage kinds (local directory, S3)."""

    kind = "storage"
    protocol = Factory


class BackupEngineCatalog(Catalog[BackupEngineFactory]):
    """Backup engines (PostgreSQL, MySQL, Redis, volumes)."""

    kind = "backup engine"
    protocol = Factory
