"""The plugin manager: entry points, isolation of failing plugins, typed registries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from meshploy_core.errors import PluginError
from meshploy_core.plugins import hookimpl
from meshploy_core.plugins.contracts import Notification
from meshploy_core.plugins.manager import PluginManager
from meshploy_core.plugins.registries import NotifierRegistry


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


async def test_builtin_plugins_load_through_entry_points() -> None:
    manager = PluginManager.load()
    infos = {i.name: i for i in manager.plugins()}
    assert infos["notifiers"].source == "built-in"
    assert "register_notifiers" in infos["notifiers"].hooks
    assert manager.failures == [], manager.failures
    registry = await manager.notifiers()
    assert "webhook" in registry.names()
    assert registry.owner("webhook") == "notifiers"


async def test_sync_and_async_hooks_and_isolation_of_failures() -> None:
    class Good:
        @hookimpl
        async def register_notifiers(self, registry: NotifierRegistry) -> None:
            registry.add("good", _Factory(kind="good"))

    class Broken:
        @hookimpl
        def register_notifiers(self, registry: NotifierRegistry) -> None:
            raise RuntimeError("boom in plugin")

    class Duplicate:
        @hookimpl
        def register_notifiers(self, registry: NotifierRegistry) -> None:
            registry.add("good", _Factory(kind="good"))

    manager = PluginManager.load(
        use_entry_points=False, extra=[("good", Good()), ("broken", Broken()), ("dup", Duplicate())]
    )
    registry = await manager.notifiers()
    assert registry.names() == ["good"]
    errors = {f.name: f.error for f in manager.failures}
    assert errors["broken"] == "RuntimeError: boom in plugin"
    assert "already registered by good" in errors["dup"]


def test_misspelled_hook_is_reported_not_ignored() -> None:
    class Typo:
        @hookimpl
        def register_notifyers(self, registry: NotifierRegistry) -> None:
            raise AssertionError("never called")

    manager = PluginManager.load(use_entry_points=False, extra=[("typo", Typo())])
    assert [p.name for p in manager.plugins()] == []
    [failure] = manager.failures
    assert failure.name == "typo" and "register_notifyers" in failure.error


def test_registry_rejects_objects_not_implementing_the_protocol() -> None:
    registry = NotifierRegistry()
    with pytest.raises(PluginError, match="does not implement NotifierFactory"):
        registry.add("thing", object())  # type: ignore[arg-type]
    with pytest.raises(PluginError, match="name 'Bad Name' is invalid"):
        registry.add("Bad Name", _Factory())
    with pytest.raises(PluginError, match="no notifier called 'nope'; available: none"):
        registry.get("nope")


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
    }
    assert rows["notifiers"]["source"] == "built-in"
    # The broken plugin of the same distribution is reported with its error; the rest work.
    assert rows["broken"]["error"] == "ImportError: this plugin is deliberately broken"
    assert rows["broken"]["source"] == "meshploy-hello-plugin"

    called = _meshploy(third_party_site, "hello")
    assert called.returncode == 0, called.stderr
    assert called.stdout.strip() == "hello from plugin; notifiers: hello,webhook"

    table = _meshploy(third_party_site, "plugins", "list")
    assert "broken" in table.stdout and "FAILED (load)" in table.stdout
    assert "hello" in table.stdout and "meshploy-hello-plugin" in table.stdout
