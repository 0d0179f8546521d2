"""The plugin manager: entry points, guarded hooks, wrappers, contexts and settings, catalogs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic
import pytest
from sqlalchemy import text

from meshploy_core.errors import PluginError
from meshploy_core.plugins import hookimpl
from meshploy_core.plugins.catalogs import NotifierCatalog
from meshploy_core.plugins.context import PluginContext, Process, ProcessResources
from meshploy_core.plugins.contracts import Notification
from meshploy_core.plugins.manager import PluginManager
from meshploy_core.settings import load_settings


@dataclass(frozen=True)
class _Cfg:
    url: str


class _Notifier:
    async def send(self, notification: Notification) -> None:
        return None


@dataclass(frozen=True)
class _Factory:
    kind: str = "test"
    description: str = "test notifier"
    config_type: type[_Cfg] = _Cfg

    def create(self, config: _Cfg) -> _Notifier:
        return _Notifier()


def _manager(*plugins: tuple[str, object], **kw: Any) -> PluginManager:
    return PluginManager.load(use_entry_points=False, extra=plugins, **kw)


async def test_builtin_plugins_load_through_entry_points() -> None:
    manager = PluginManager.load()
    infos = {i.name: i for i in await manager.plugins()}
    assert manager.failures == [], manager.failures
    assert infos["notifiers"].source == "built-in"
    assert infos["notifiers"].provides == {"notifiers": ("discord", "email", "slack", "webhook")}
    assert infos["registries"].provides == {"registries": ("stored-logins",)}
    assert "register_routes" in infos["gateway"].hooks
    assert "register_commands" in infos["testbed"].hooks
    catalog = await manager.notifiers()
    assert catalog.names() == ["discord", "email", "slack", "webhook"]
    assert {catalog.owner(n) for n in catalog.names()} == {"notifiers"}


async def test_sync_and_async_hooks_and_isolation_of_failures() -> None:
    class Good:
        @hookimpl
        async def register_notifiers(self, registry: NotifierCatalog) -> None:
            registry.add("good", _Factory(kind="good"))

    class Broken:
        @hookimpl
        def register_notifiers(self, registry: NotifierCatalog) -> None:
            raise RuntimeError("boom in plugin")

    class BrokenLater:
        @hookimpl
        async def register_notifiers(self, registry: NotifierCatalog) -> None:
            registry.add("half", _Factory(kind="half"))
            raise RuntimeError("boom after registering")

    class Duplicate:
        @hookimpl
        def register_notifiers(self, registry: NotifierCatalog) -> None:
            registry.add("good", _Factory(kind="good"))

    manager = _manager(
        ("good", Good()), ("broken", Broken()), ("later", BrokenLater()), ("dup", Duplicate())
    )
    catalog = await manager.notifiers()
    # pluggy's order: the last registered runs first, and coroutines are awaited after every
    # synchronous implementation ran; so "dup" took the name and "good" is the duplicate.
    assert catalog.names() == ["good", "half"]
    assert catalog.owner("good") == "dup"
    errors = {f.name: (f.stage, f.error) for f in manager.failures}
    assert errors["broken"] == ("register_notifiers", "RuntimeError: boom in plugin")
    assert errors["later"] == ("register_notifiers", "RuntimeError: boom after registering")
    assert "notifier 'good' is already registered by dup" in errors["good"][1]
    # A second use of the catalog does not call the hooks (or record the failures) again.
    assert await manager.notifiers() is catalog
    assert len(manager.failures) == 3


def test_misspelled_hook_is_reported_not_ignored() -> None:
    class Typo:
        @hookimpl
        def register_notifyers(self, registry: NotifierCatalog) -> None:
            raise AssertionError("never called")

    manager = _manager(("typo", Typo()))
    [failure] = manager.failures
    assert failure.name == "typo" and "register_notifyers" in failure.error
    assert not manager.pm.has_plugin("typo")


def test_catalog_rejects_objects_not_implementing_the_protocol() -> None:
    catalog = NotifierCatalog()
    with pytest.raises(PluginError, match="does not implement a factory"):
        catalog.add("thing", object())  # type: ignore[arg-type]
    with pytest.raises(PluginError, match="name 'Bad Name' is invalid"):
        catalog.add("Bad Name", _Factory())
    with pytest.raises(PluginError, match="no notifier called 'nope'; available: none"):
        catalog.get("nope")


async def test_hook_wrappers_see_and_change_every_plugins_results() -> None:
    seen: list[str] = []

    class Adds:
        @hookimpl
        def register_notifiers(self, registry: NotifierCatalog) -> None:
            registry.add("first", _Factory(kind="first"))

    class NewStyleWrapper:
        @hookimpl(wrapper=True)
        def register_notifiers(
            self, registry: NotifierCatalog, context: PluginContext
        ) -> Generator[None, list[Any], list[Any]]:
            seen.append(f"before {context.plugin}: {registry.names()}")
            result = yield
            seen.append(f"after: {registry.names()}")
            registry.add("wrapped", _Factory(kind="wrapped"))
            return result

    class OldStyleWrapper:
        @hookimpl(hookwrapper=True)
        def register_notifiers(self) -> Generator[None, Any, None]:
            seen.append("old before")
            yield
            seen.append("old after")

    manager = _manager(("adds", Adds()), ("new", NewStyleWrapper()), ("old", OldStyleWrapper()))
    catalog = await manager.notifiers()
    assert catalog.names() == ["first", "wrapped"]
    assert catalog.owner("wrapped") == "new"
    assert seen == ["old before", "before new: []", "after: ['first']", "old after"]
    assert manager.failures == []


class _CorednsSettings(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    zone_dir: Path
    reload_seconds: int = 2


class _WithSettings:
    def __init__(self) -> None:
        self.contexts: list[PluginContext] = []

    @hookimpl
    def plugin_settings(self) -> type[_CorednsSettings]:
        return _CorednsSettings

    @hookimpl
    def register_notifiers(self, context: PluginContext) -> None:
        self.contexts.append(context)


class _Plain:
    def __init__(self) -> None:
        self.contexts: list[PluginContext] = []

    @hookimpl
    def register_notifiers(self, context: PluginContext) -> None:
        self.contexts.append(context)


async def test_each_plugin_gets_its_own_context_with_validated_settings(tmp_path: Path) -> None:
    config = tmp_path / "meshploy.toml"
    config.write_text('[plugins.core-dns]\nzone_dir = "/srv/zones"\nreload_seconds = 5\n')
    settings = load_settings({"MESHPLOY_PLUGIN_CORE_DNS__RELOAD_SECONDS": "7"}, config_file=config)
    with_settings, plain = _WithSettings(), _Plain()
    manager = _manager(
        ("core-dns", with_settings), ("plain", plain), settings=settings, process=Process.WORKER
    )
    await manager.notifiers()
    assert manager.failures == []
    [ctx] = with_settings.contexts
    assert ctx.plugin == "core-dns" and ctx.process is Process.WORKER
    # The environment wins over the file, and values are validated (str -> int, Path).
    assert ctx.settings == _CorednsSettings(zone_dir=Path("/srv/zones"), reload_seconds=7)
    assert ctx.log.name == "meshploy.plugins.core-dns"
    [other] = plain.contexts
    assert other.plugin == "plain" and type(other.settings).__name__ == "NoSettings"


def test_invalid_or_unexpected_settings_disable_the_plugin_with_the_field_named() -> None:
    settings = load_settings(
        {
            "MESHPLOY_PLUGIN_CORE_DNS__RELOAD_SECONDS": "soon",
            "MESHPLOY_PLUGIN_PLAIN__X": "1",
            "MESHPLOY_PLUGIN_NOSUCH__Y": "2",
        }
    )
    manager = _manager(("core-dns", _WithSettings()), ("plain", _Plain()), settings=settings)
    errors = {f.name: (f.stage, f.error) for f in manager.failures}
    stage, error = errors["core-dns"]
    assert stage == "settings"
    assert "plugins.core-dns.zone_dir: Field required" in error
    assert "plugins.core-dns.reload_seconds: Input should be a valid integer" in error
    assert errors["plain"] == ("settings", "ValueError: plugin plain takes no settings; got x")
    assert "settings are given for plugin 'nosuch', which is not installed" in errors["nosuch"][1]
    assert not manager.pm.has_plugin("core-dns") and not manager.pm.has_plugin("plain")


def test_malformed_plugin_variable_is_a_config_error() -> None:
    from meshploy_core.errors import ConfigError

    with pytest.raises(ConfigError, match="MESHPLOY_PLUGIN_<NAME>__<SETTING>"):
        load_settings({"MESHPLOY_PLUGIN_COREDNS_ZONE_DIR": "/x"})


async def test_context_offers_the_database_only_once_the_process_has_one(
    engine: Any,
) -> None:
    from meshploy_core.db.engine import session_factory

    plain = _Plain()
    manager = _manager(("plain", plain), process=Process.API)
    await manager.notifiers()
    with pytest.raises(PluginError, match="the api process offers no database here"):
        plain.contexts[0].session()
    manager.bind(ProcessResources(sessions=session_factory(engine)))
    await manager.notifiers()  # collected again after bind
    async with plain.contexts[1].session() as session:
        assert await session.scalar(text("select 41 + 1")) == 42


THIRD_PARTY = {
    "pyproject.toml": """
        [build-system]
        requires = ["setuptools"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "meshploy-hello-plugin"
        version = "1.0"

        [project.entry-points.meshploy]
        hello = "meshploy_hello.plugin"
        broken = "meshploy_hello.broken"

        [tool.setuptools]
        packages = ["meshploy_hello"]
    """,
    "meshploy_hello/__init__.py": "",
    "meshploy_hello/plugin.py": """
        import asyncio
        from dataclasses import dataclass

        import click

        from meshploy_core.plugins import hookimpl
        from meshploy_core.plugins.manager import PluginManager


        @dataclass(frozen=True)
        class Cfg:
            url: str


        class Notifier:
            async def send(self, notification):
                return None


        @dataclass(frozen=True)
        class Factory:
            kind: str = "hello"
            description: str = "says hello"
            config_type: type = Cfg

            def create(self, config):
                return Notifier()


        @hookimpl
        def register_notifiers(registry):
            registry.add("hello", Factory())


        @hookimpl
        def register_commands(cli):
            @cli.command("hello")
            def hello():
                registry = asyncio.run(PluginManager.load().notifiers())
                click.echo("hello from plugin; notifiers: " + ",".join(registry.names()))
    """,
    "meshploy_hello/broken.py": """
        raise ImportError("this plugin is deliberately broken")
    """,
}


@pytest.fixture(scope="module")
def third_party_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build and install a throwaway plugin distribution into its own site directory."""
    src = tmp_path_factory.mktemp("hello-src")
    for name, content in THIRD_PARTY.items():
        path = src / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(content))
    site = tmp_path_factory.mktemp("hello-site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            str(src),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return site


def _meshploy(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run(
        [sys.executable, "-m", "meshploy_core", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_third_party_distribution_is_registered_and_called(third_party_site: Path) -> None:
    listed = _meshploy(third_party_site, "plugins", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert rows["hello"] == {
        "name": "hello",
        "source": "meshploy-hello-plugin",
        "hooks": ["register_commands", "register_notifiers"],
        "provides": {"notifiers": ["hello"]},
    }
    assert rows["registries"]["provides"] == {"registries": ["stored-logins"]}
    assert rows["notifiers"]["source"] == "built-in"
    # The broken plugin of the same distribution is reported with its error; the rest work.
    assert rows["broken"]["error"] == "ImportError: this plugin is deliberately broken"
    assert rows["broken"]["source"] == "meshploy-hello-plugin"

    called = _meshploy(third_party_site, "hello")
    assert called.returncode == 0, called.stderr
    assert (
        called.stdout.strip() == "hello from plugin; notifiers: discord,email,hello,slack,webhook"
    )

    table = _meshploy(third_party_site, "plugins", "list")
    assert "broken" in table.stdout and "FAILED (load)" in table.stdout
    assert "hello" in table.stdout and "meshploy-hello-plugin" in table.stdout
    assert (
        "notifiers: hello" in table.stdout
        and "notifiers: discord, email, slack, webhook" in table.stdout
    )
