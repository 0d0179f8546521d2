"""The plugin manager facade: one per app or CLI run, never a module-level global.

The core never calls ``pm.hook.x(**kw)`` directly; it calls the typed methods here, which call
each plugin's implementation on its own so one failing plugin is isolated and reported.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any, TypeVar

import pluggy

from meshploy_core.plugins import ENTRY_POINT_GROUP, PROJECT_NAME, hookspecs
from meshploy_core.plugins.registries import (
    BackupEngineRegistry,
    BuilderRegistry,
    DnsProviderRegistry,
    ImageRegistryRegistry,
    NotifierRegistry,
    Registry,
    StorageRegistry,
)

log = logging.getLogger(__name__)
BUILTIN_DISTRIBUTION = "meshploy"
R = TypeVar("R", bound=Registry[Any])


@dataclass(frozen=True)
class PluginInfo:
    """A loaded plugin: its name, where it came from and the hooks it implements."""

    name: str
    source: str
    hooks: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """``{"name", "source", "hooks"}`` as ``meshploy plugins list --json`` prints it."""
        return {"name": self.name, "source": self.source, "hooks": list(self.hooks)}


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that failed to load, or whose hook raised."""

    name: str
    source: str
    stage: str
    error: str

    def to_json(self) -> dict[str, Any]:
        """JSON form, for ``meshploy plugins list --json``."""
        return {"name": self.name, "source": self.source, "stage": self.stage, "error": self.error}


def _source_of(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    name = getattr(dist, "name", None) or "unknown"
    return "built-in" if name == BUILTIN_DISTRIBUTION else name


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".strip()[:500]


@dataclass
class PluginManager:
    """Loads plugins from the ``meshploy`` entry-point group and calls their hooks."""

    pm: pluggy.PluginManager = field(default_factory=lambda: pluggy.PluginManager(PROJECT_NAME))
    failures: list[PluginFailure] = field(default_factory=list)
    _sources: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.pm.add_hookspecs(hookspecs)

    @classmethod
    def load(
        cls, *, use_entry_points: bool = True, extra: Iterable[tuple[str, object]] = ()
    ) -> PluginManager:
        """Build a manager with every installed plugin (plus ``extra`` (name, plugin) pairs)."""
        manager = cls()
        if use_entry_points:
            for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
                manager._load_entry_point(ep)
        for name, plugin in extra:
            manager.register(plugin, name=name, source="in-process")
        return manager

    def _load_entry_point(self, ep: EntryPoint) -> None:
        source = _source_of(ep)
        if self.pm.has_plugin(ep.name):
            self._fail(ep.name, source, "load", f"another plugin is already named {ep.name!r}")
            return
        try:
            plugin = ep.load()
        except Exception as exc:  # a broken plugin must not take the platform down
            self._fail(ep.name, source, "load", _describe(exc))
            return
        self.register(plugin, name=ep.name, source=source)

    def register(self, plugin: object, *, name: str, source: str) -> None:
        """Register one plugin object, validating its hook implementations."""
        try:
            self.pm.register(plugin, name=name)
            # Misspelled hook names would otherwise be silently ignored.
            self.pm.check_pending()
        except Exception as exc:
            if self.pm.has_plugin(name):
                self.pm.unregister(name=name)
            self._fail(name, source, "load", _describe(exc))
            return
        self._sources[name] = source

    def _fail(self, name: str, source: str, stage: str, error: str) -> None:
        log.error("plugin %s (%s) failed at %s: %s", name, source, stage, error)
        self.failures.append(PluginFailure(name, source, stage, error))

    def plugins(self) -> list[PluginInfo]:
        """Every loaded plugin with the hooks it implements, sorted by name."""
        infos = []
        for name, plugin in self.pm.list_name_plugin():
            callers = self.pm.get_hookcallers(plugin) or []
            infos.append(
                PluginInfo(
                    name=name,
                    source=self._sources.get(name, "unknown"),
                    hooks=tuple(sorted(c.name for c in callers)),
                )
            )
        return sorted(infos, key=lambda i: i.name)

    async def call_each(self, hook_name: str, **kwargs: Any) -> list[Any]:
        """Call ``hook_name`` on every plugin separately, awaiting async implementations.

        A plugin whose implementation raises is recorded in :attr:`failures` and skipped; the
        others still run.
        """
        caller = getattr(self.pm.hook, hook_name)
        results: list[Any] = []
        for impl in caller.get_hookimpls():  # registration order
            registry = kwargs.get("registry")
            if isinstance(registry, Registry):
                registry.current_plugin = impl.plugin_name
            try:
                result = impl.function(*[kwargs[arg] for arg in impl.argnames])
                if inspect.isawaitable(result):
                    result = await result
            except Exception as exc:
                self._fail(
                    impl.plugin_name,
                    self._sources.get(impl.plugin_name, "?"),
                    hook_name,
                    _describe(exc),
                )
                continue
            results.append(result)
        return results

    def call_each_sync(self, hook_name: str, **kwargs: Any) -> list[Any]:
        """Like :meth:`call_each` for hooks that must run synchronously (CLI commands).

        An ``async def`` implementation is reported as a failure here rather than left
        un-awaited.
        """
        caller = getattr(self.pm.hook, hook_name)
        results: list[Any] = []
        for impl in caller.get_hookimpls():  # registration order
            try:
                result = impl.function(*[kwargs[arg] for arg in impl.argnames])
                if inspect.isawaitable(result):
                    close = getattr(result, "close", None)
                    if close:
                        close()
                    raise TypeError(f"{hook_name} must not be async")
            except Exception as exc:
                self._fail(
                    impl.plugin_name,
                    self._sources.get(impl.plugin_name, "?"),
                    hook_name,
                    _describe(exc),
                )
                continue
            results.append(result)
        return results

    async def _collect(self, hook_name: str, registry: R) -> R:
        await self.call_each(hook_name, registry=registry)
        registry.current_plugin = "<core>"
        return registry

    async def builders(self) -> BuilderRegistry:
        """Every registered builder."""
        return await self._collect("register_builders", BuilderRegistry())

    async def dns_providers(self) -> DnsProviderRegistry:
        """Every registered DNS-01 provider."""
        return await self._collect("register_dns_providers", DnsProviderRegistry())

    async def notifiers(self) -> NotifierRegistry:
        """Every registered notifier kind."""
        return await self._collect("register_notifiers", NotifierRegistry())

    async def image_registries(self) -> ImageRegistryRegistry:
        """Every registered image registry."""
        return await self._collect("register_registries", ImageRegistryRegistry())

    async def storage(self) -> StorageRegistry:
        """Every registered storage backend."""
        return await self._collect("register_storage", StorageRegistry())

    async def backup_engines(self) -> BackupEngineRegistry:
        """Every registered backup engine."""
        return await self._collect("register_backup_engines", BackupEngineRegistry())
