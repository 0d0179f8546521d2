"""The plugin manager facade: one per app, worker or CLI run, never a module-level global.

The core never calls ``pm.hook.x(**kw)`` itself; it calls the typed methods here. Hooks run
through pluggy as usual (so ``@hookimpl(wrapper=True)`` wrappers work), but every plugin's
implementations are registered *guarded*: an implementation that raises (or whose coroutine
raises) is recorded in :attr:`PluginManager.failures`, logged, and contributes nothing, while
the other plugins' implementations still run. The guard also hands each implementation its
own :class:`~meshploy_core.plugins.context.PluginContext` and records which plugin added what
to a catalog.
"""

from __future__ import annotations

import functools
import inspect
import logging
import types
from collections.abc import Awaitable, Callable, Generator, Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any, TypeVar

import pluggy

from meshploy_core.plugins import ENTRY_POINT_GROUP, PROJECT_NAME, hookspecs
from meshploy_core.plugins.catalogs import (
    BackupEngineCatalog,
    BuilderCatalog,
    Catalog,
    DnsProviderCatalog,
    ImageRegistryCatalog,
    MeshProviderCatalog,
    NotifierCatalog,
    StorageCatalog,
    current_plugin,
)
from meshploy_core.plugins.context import (
    NoSettings,
    PluginContext,
    Process,
    ProcessResources,
    plugin_logger,
)
from meshploy_core.settings import Settings, normalize_plugin_name

log = logging.getLogger(__name__)
BUILTIN_DISTRIBUTION = "meshploy"
C = TypeVar("C", bound=Catalog[Any])


class _ContextSlot:
    """Stands for "this plugin's context" in a hook call; the guard replaces it."""

    def __repr__(self) -> str:
        return "<plugin context>"


CONTEXT = _ContextSlot()


@dataclass(frozen=True)
class PluginInfo:
    """A loaded plugin: its name, origin, the hooks it implements and what it provides."""

    name: str
    source: str
    hooks: tuple[str, ...]
    provides: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """JSON form, as ``meshploy plugins list --json`` prints it."""
        return {
            "name": self.name,
            "source": self.source,
            "hooks": list(self.hooks),
            "provides": {k: list(v) for k, v in self.provides.items()},
        }


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that failed to load, whose settings are invalid, or whose hook raised."""

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
    return f"{type(exc).__name__}: {exc}".strip().replace("\n", " ")[:500]


#: Catalog kinds as ``meshploy plugins list`` names them, with their register hook.
CATALOG_HOOKS: Mapping[str, tuple[str, type[Catalog[Any]]]] = {
    "builders": ("register_builders", BuilderCatalog),
    "dns": ("register_dns_providers", DnsProviderCatalog),
    "mesh": ("register_mesh_providers", MeshProviderCatalog),
    "notifiers": ("register_notifiers", NotifierCatalog),
    "registries": ("register_registries", ImageRegistryCatalog),
    "storage": ("register_storage", StorageCatalog),
    "backup": ("register_backup_engines", BackupEngineCatalog),
}


class _PluginAwaitable:
    """What a guarded ``async def`` implementation returns: awaiting it runs the plugin's
    coroutine as that plugin, recording (not raising) what it raises."""

    def __init__(
        self, manager: PluginManager, plugin: str, hook: str, inner: Awaitable[Any]
    ) -> None:
        self.manager, self.plugin, self.hook, self.inner = manager, plugin, hook, inner

    def __await__(self) -> Generator[Any, None, Any]:
        return self._run().__await__()

    async def _run(self) -> Any:
        token = current_plugin.set(self.plugin)
        try:
            return await self.inner
        except Exception as exc:
            self.manager._hook_failed(self.plugin, self.hook, exc)
            return None
        finally:
            current_plugin.reset(token)

    def close(self) -> None:
        """Discard without running (a synchronous hook got a coroutine)."""
        close = getattr(self.inner, "close", None)
        if close is not None:
            close()


class PluginManager:
    """Loads plugins from the ``meshploy`` entry-point group and calls their hooks."""

    def __init__(self, settings: Settings | None = None, process: Process = Process.CLI) -> None:
        self.pm = pluggy.PluginManager(PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.settings = settings if settings is not None else Settings()
        self.process = process
        self.resources = ProcessResources()
        self.failures: list[PluginFailure] = []
        self._sources: dict[str, str] = {}
        self._plugin_settings: dict[str, Any] = {}
        self._catalogs: dict[str, Catalog[Any]] = {}

    @classmethod
    def load(
        cls,
        *,
        settings: Settings | None = None,
        process: Process = Process.CLI,
        use_entry_points: bool = True,
        extra: Iterable[tuple[str, object]] = (),
    ) -> PluginManager:
        """A manager with every installed plugin (plus ``extra`` (name, plugin) pairs)."""
        manager = cls(settings, process)
        if use_entry_points:
            for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
                manager._load_entry_point(ep)
        for name, plugin in extra:
            manager.register(plugin, name=name, source="in-process")
        manager._check_unknown_sections()
        return manager

    # -- loading ----------------------------------------------------------------------------

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
        """Register one plugin object: validate its hooks, then its settings."""
        try:
            guarded = self._guarded(plugin, name)
            self.pm.register(guarded, name=name)
            # Misspelled hook names would otherwise be silently ignored.
            self.pm.check_pending()
        except Exception as exc:
            if self.pm.has_plugin(name):
                self.pm.unregister(name=name)
            self._fail(name, source, "load", _describe(exc))
            return
        self._sources[name] = source
        try:
            self._plugin_settings[name] = self._validated_settings(plugin, name)
        except Exception as exc:
            self.pm.unregister(name=name)
            self._fail(name, source, "settings", _describe(exc))

    def _validated_settings(self, plugin: object, name: str) -> Any:
        from pydantic import TypeAdapter, ValidationError

        declare = getattr(plugin, "plugin_settings", None)
        model = (
            declare()
            if callable(declare)
            and self.pm.parse_hookimpl_opts(plugin, "plugin_settings") is not None
            else None
        )
        model = model or NoSettings
        raw = dict(self.settings.plugins.get(normalize_plugin_name(name), {}))
        if model is NoSettings and raw:
            keys = ", ".join(sorted(raw))
            raise ValueError(f"plugin {name} takes no settings; got {keys}")
        try:
            return TypeAdapter(model).validate_python(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"plugins.{name}.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
                for err in exc.errors()
            )
            raise ValueError(problems) from None

    def _check_unknown_sections(self) -> None:
        loaded = {normalize_plugin_name(n) for n in self._sources}
        for section in self.settings.plugins:
            if section not in loaded:
                known = ", ".join(sorted(self._sources)) or "none"
                self._fail(
                    section,
                    "settings",
                    "settings",
                    f"settings are given for plugin {section!r}, which is not installed "
                    f"(installed: {known})",
                )

    def _guarded(self, plugin: object, name: str) -> object:
        """A stand-in for ``plugin`` whose hook implementations are guarded (see module doc)."""
        proxy = types.SimpleNamespace()
        for attr in dir(plugin):
            if attr.startswith("__"):
                continue
            opts = self.pm.parse_hookimpl_opts(plugin, attr)
            if opts is None:
                continue
            func = getattr(plugin, attr)
            wrapper = bool(opts.get("wrapper") or opts.get("hookwrapper"))
            setattr(proxy, attr, self._guard(func, name, attr, isolate=not wrapper))
        return proxy

    def _guard(
        self, func: Callable[..., Any], plugin: str, hook: str, *, isolate: bool
    ) -> Callable[..., Any]:
        manager = self

        def fill(args: tuple[Any, ...]) -> tuple[Any, ...]:
            return tuple(manager.context_for(plugin) if a is CONTEXT else a for a in args)

        if inspect.isgeneratorfunction(func):  # an old- or new-style hook wrapper

            @functools.wraps(func)
            def generator(*args: Any) -> Any:
                # ``yield from`` by hand, so each step of the wrapper runs as its plugin.
                inner = func(*fill(args))
                sent: Any = None
                thrown: BaseException | None = None
                while True:
                    token = current_plugin.set(plugin)
                    try:
                        value = inner.throw(thrown) if thrown is not None else inner.send(sent)
                    except StopIteration as stop:
                        return stop.value
                    finally:
                        current_plugin.reset(token)
                    thrown = None
                    try:
                        sent = yield value
                    except GeneratorExit:
                        inner.close()
                        raise
                    except BaseException as exc:
                        thrown = exc

            return generator

        @functools.wraps(func)
        def guarded(*args: Any) -> Any:
            token = current_plugin.set(plugin)
            try:
                result = func(*fill(args))
            except Exception as exc:
                if not isolate:
                    raise
                manager._hook_failed(plugin, hook, exc)
                return None
            finally:
                current_plugin.reset(token)
            if inspect.isawaitable(result):
                return _PluginAwaitable(manager, plugin, hook, result)
            return result

        return guarded

    def _hook_failed(self, plugin: str, hook: str, exc: Exception) -> None:
        self._fail(plugin, self._sources.get(plugin, "?"), hook, _describe(exc))

    def _fail(self, name: str, source: str, stage: str, error: str) -> None:
        log.error("plugin %s (%s) failed at %s: %s", name, source, stage, error)
        self.failures.append(PluginFailure(name, source, stage, error))

    # -- contexts ---------------------------------------------------------------------------

    def bind(self, resources: ProcessResources) -> None:
        """Offer ``resources`` to plugins from now on (catalogs are collected again)."""
        self.resources = resources
        self._catalogs.clear()

    def context_for(self, plugin: str) -> PluginContext:
        """The context ``plugin``'s hook implementations receive."""
        return PluginContext(
            plugin=plugin,
            settings=self._plugin_settings.get(plugin, NoSettings()),
            log=plugin_logger(plugin),
            process=self.process,
            core=self.settings,
            resources=self.resources,
        )

    # -- calling hooks ----------------------------------------------------------------------

    async def call(self, hook_name: str, **kwargs: Any) -> list[Any]:
        """Call ``hook_name`` on every plugin, awaiting async implementations in order.

        Pass ``context=CONTEXT`` for hooks that take a context. Results of implementations
        that failed (and ``None`` results) are left out.
        """
        results = []
        for result in self._run(hook_name, kwargs):
            if inspect.isawaitable(result):
                result = await result
            if result is not None:
                results.append(result)
        return results

    def call_sync(self, hook_name: str, **kwargs: Any) -> list[Any]:
        """Like :meth:`call` for hooks that must run synchronously (routes, CLI commands).

        An ``async def`` implementation is reported as a failure rather than left un-awaited.
        """
        results = []
        for result in self._run(hook_name, kwargs):
            if isinstance(result, _PluginAwaitable):
                result.close()
                self._fail(
                    result.plugin,
                    self._sources.get(result.plugin, "?"),
                    hook_name,
                    f"TypeError: {hook_name} must not be async",
                )
                continue
            if result is not None:
                results.append(result)
        return results

    def _run(self, hook_name: str, kwargs: dict[str, Any]) -> list[Any]:
        caller = getattr(self.pm.hook, hook_name)
        try:
            return list(caller(**kwargs))
        except Exception as exc:  # raised by a hook wrapper: wrappers are not isolated
            wrappers = [i.plugin_name for i in caller.get_hookimpls() if i.hookwrapper or i.wrapper]
            name = ",".join(wrappers) or "?"
            self._fail(name, self._sources.get(name, "?"), hook_name, _describe(exc))
            return []

    # -- catalogs ---------------------------------------------------------------------------

    async def _collect(self, key: str) -> Catalog[Any]:
        found = self._catalogs.get(key)
        if found is None:
            hook_name, catalog_type = CATALOG_HOOKS[key]
            found = catalog_type()
            await self.call(hook_name, registry=found, context=CONTEXT)
            self._catalogs[key] = found
        return found

    async def builders(self) -> BuilderCatalog:
        """Every registered builder."""
        return await self._typed("builders", BuilderCatalog)

    async def dns_providers(self) -> DnsProviderCatalog:
        """Every registered DNS-01 provider."""
        return await self._typed("dns", DnsProviderCatalog)

    async def mesh_providers(self) -> MeshProviderCatalog:
        """Every registered mesh provider."""
        return await self._typed("mesh", MeshProviderCatalog)

    async def notifiers(self) -> NotifierCatalog:
        """Every registered notifier kind."""
        return await self._typed("notifiers", NotifierCatalog)

    async def image_registries(self) -> ImageRegistryCatalog:
        """Every registered image registry."""
        return await self._typed("registries", ImageRegistryCatalog)

    async def storage(self) -> StorageCatalog:
        """Every registered storage kind."""
        return await self._typed("storage", StorageCatalog)

    async def backup_engines(self) -> BackupEngineCatalog:
        """Every registered backup engine."""
        return await self._typed("backup", BackupEngineCatalog)

    async def _typed(self, key: str, catalog_type: type[C]) -> C:
        found = await self._collect(key)
        assert isinstance(found, catalog_type)
        return found

    # -- listing ----------------------------------------------------------------------------

    async def plugins(self) -> list[PluginInfo]:
        """Every loaded plugin with its hooks and what it provides, sorted by name."""
        provides: dict[str, dict[str, tuple[str, ...]]] = {}
        for key in CATALOG_HOOKS:
            for owner, names in (await self._collect(key)).by_plugin().items():
                provides.setdefault(owner, {})[key] = tuple(names)
        infos = []
        for plugin_name, plugin in self.pm.list_name_plugin():
            callers = self.pm.get_hookcallers(plugin) or []
            infos.append(
                PluginInfo(
                    name=plugin_name,
                    source=self._sources.get(plugin_name, "unknown"),
                    hooks=tuple(sorted(c.name for c in callers)),
                    provides=provides.get(plugin_name, {}),
                )
            )
        return sorted(infos, key=lambda i: i.name)
