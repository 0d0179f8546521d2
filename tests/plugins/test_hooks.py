"""Every hook, called the way the core calls it: one ``test_hook_<name>`` per hook.

``tests/plugins/test_docs.py`` fails when a hook in ``hookspecs.py`` has no test here, and
when it is missing from docs/plugins.md.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import click
import pytest
from click.testing import CliRunner
from meshploy_registries import credentials
from quart import Blueprint, Quart
from sqlalchemy.ext.asyncio import AsyncEngine

from meshploy_core.app.factory import create_app
from meshploy_core.audit import SYSTEM
from meshploy_core.authorization.policy import public
from meshploy_core.db.engine import session_factory
from meshploy_core.organizations.registration import register
from meshploy_core.plugins import hookimpl
from meshploy_core.plugins.catalogs import (
    BackupEngineCatalog,
    BuilderCatalog,
    DnsProviderCatalog,
    ImageRegistryCatalog,
    MeshProviderCatalog,
    StorageCatalog,
)
from meshploy_core.plugins.context import PluginContext, Process, ProcessResources
from meshploy_core.plugins.contracts import (
    BackupEngine,
    BackupResult,
    BuildContainer,
    Builder,
    BuildRequest,
    DnsProvider,
    JoinKey,
    MeshNode,
    MeshProvider,
    NoConfig,
    PluginFactory,
    RegistryCredentials,
    Storage,
)
from meshploy_core.plugins.manager import PluginManager
from meshploy_core.registries.logins import PullLogins, RegistryLookupError
from meshploy_core.settings import Settings, load_settings


def _manager(*plugins: tuple[str, object], **kw: Any) -> PluginManager:
    return PluginManager.load(use_entry_points=False, extra=plugins, **kw)


async def test_hook_plugin_settings() -> None:
    @dataclass(frozen=True)
    class Options:
        greeting: str = "hello"
        times: int = 1

    class Plugin:
        seen: list[Any] = []

        @hookimpl
        def plugin_settings(self) -> type[Options]:
            return Options

        @hookimpl
        def register_notifiers(self, context: PluginContext) -> None:
            self.seen.append(context.settings)

    settings = load_settings({"MESHPLOY_PLUGIN_GREETER__TIMES": "3"})
    manager = _manager(("greeter", Plugin()), settings=settings)
    await manager.notifiers()
    assert Plugin.seen == [Options(greeting="hello", times=3)]


@dataclass(frozen=True)
class DockerfileOptions:
    dockerfile: str = "Dockerfile"


@dataclass(frozen=True)
class FakeDockerfileBuilder:
    options: DockerfileOptions

    def detect(self, files: frozenset[str]) -> bool:
        return self.options.dockerfile in files

    def container(self, request: BuildRequest) -> BuildContainer:
        return BuildContainer(
            image="builder:1", command=("build",), args=(request.repo_url, request.image)
        )


async def test_hook_register_builders() -> None:
    class Plugin:
        @hookimpl
        def register_builders(self, registry: BuilderCatalog) -> None:
            registry.add(
                "dockerfile",
                PluginFactory(
                    "dockerfile", "a Dockerfile", DockerfileOptions, FakeDockerfileBuilder
                ),
            )

    catalog = await _manager(("builders", Plugin())).builders()
    factory = catalog.get("dockerfile")
    assert catalog.owner("dockerfile") == "builders"
    builder = factory.create(DockerfileOptions(dockerfile="Containerfile"))
    assert isinstance(builder, Builder)
    assert builder.detect(frozenset({"Containerfile"})) and not builder.detect(frozenset())
    out = builder.container(BuildRequest(repo_url="git://x", ref="main", image="r/x:1"))
    assert out.args == ("git://x", "r/x:1")


@dataclass
class MemoryDns:
    records: dict[str, list[str]] = field(default_factory=dict)

    async def perform(self, zone: str, validation_name: str, validation: str) -> None:
        self.records.setdefault(validation_name, []).append(validation)

    async def cleanup(self, zone: str, validation_name: str, validation: str) -> None:
        self.records[validation_name].remove(validation)


async def test_hook_register_dns_providers() -> None:
    made: list[MemoryDns] = []

    def build(_: NoConfig) -> MemoryDns:
        made.append(MemoryDns())
        return made[-1]

    class Plugin:
        @hookimpl
        def register_dns_providers(self, registry: DnsProviderCatalog) -> None:
            registry.add("memory", PluginFactory("memory", "in memory", NoConfig, build))

    factory = (await _manager(("dns", Plugin())).dns_providers()).get("memory")
    provider = factory.create(factory.config_type())
    assert isinstance(provider, DnsProvider)
    await provider.perform("d.example", "_acme-challenge.d.example", "a")
    await provider.perform("d.example", "_acme-challenge.d.example", "b")
    await provider.cleanup("d.example", "_acme-challenge.d.example", "a")
    assert made[0].records == {"_acme-challenge.d.example": ["b"]}


class MemoryMesh:
    def __init__(self) -> None:
        self.nodes: dict[str, MeshNode] = {
            "1": MeshNode(id="1", name="w1", addresses=("100.64.0.2",), online=True)
        }

    async def create_join_key(self, org_id: uuid.UUID, ttl_seconds: int) -> JoinKey:
        from datetime import UTC, datetime, timedelta

        return JoinKey(
            key=f"key-{org_id}",
            expires_at=datetime.now(UTC) + timedelta(seconds=ttl_seconds),
            control_url="http://127.0.0.1:1",
        )

    async def list_nodes(self) -> list[MeshNode]:
        return list(self.nodes.values())

    async def delete_node(self, node_id: str) -> None:
        self.nodes.pop(node_id, None)


async def test_hook_register_mesh_providers() -> None:
    class Plugin:
        @hookimpl
        def register_mesh_providers(self, registry: MeshProviderCatalog) -> None:
            registry.add(
                "memory", PluginFactory("memory", "in memory", NoConfig, lambda _: MemoryMesh())
            )

    factory = (await _manager(("mesh", Plugin())).mesh_providers()).get("memory")
    mesh = factory.create(NoConfig())
    assert isinstance(mesh, MeshProvider)
    key = await mesh.create_join_key(uuid.UUID(int=1), 300)
    assert "key-" not in repr(key)  # the key never shows in a repr (logs)
    await mesh.delete_node("1")
    await mesh.delete_node("1")  # gone already: no error
    assert await mesh.list_nodes() == []


async def test_hook_register_notifiers() -> None:
    catalog = await PluginManager.load().notifiers()
    assert catalog.names() == ["discord", "email", "slack", "webhook"]
    types = {name: factory.config_type.__name__ for name, factory in catalog}
    assert types == {
        "discord": "DiscordConfig",
        "email": "EmailConfig",
        "slack": "SlackConfig",
        "webhook": "WebhookConfig",
    }


class _StaticRegistry:
    def __init__(self, host: str, creds: RegistryCredentials | None = None) -> None:
        self.host, self.creds = host, creds

    async def pull_credentials(self, org_id: uuid.UUID, image: str) -> RegistryCredentials | None:
        if not image.startswith(self.host + "/"):
            return None
        if self.creds is None:
            raise RuntimeError("backend down; token=do-not-leak")
        return self.creds


async def test_hook_register_registries() -> None:
    class Plugin:
        @hookimpl
        def register_registries(self, registry: ImageRegistryCatalog) -> None:
            good = RegistryCredentials("a.example", "u", "p")
            registry.add(
                "a", PluginFactory("a", "A", NoConfig, lambda _: _StaticRegistry("a.example", good))
            )
            registry.add(
                "b",
                PluginFactory("b", "B (broken)", NoConfig, lambda _: _StaticRegistry("b.example")),
            )

    logins = PullLogins.from_catalog(await _manager(("regs", Plugin())).image_registries())
    org = uuid.uuid4()
    assert await logins.for_image(org, "a.example/team/api:1") == RegistryCredentials(
        "a.example", "u", "p"
    )
    assert await logins.for_image(org, "docker.io/library/nginx:1") is None
    with pytest.raises(RegistryLookupError) as failed:
        await logins.for_image(org, "b.example/x:1")
    assert "the b image registry could not look up a login for b.example/x:1" in str(failed.value)
    assert "do-not-leak" not in str(failed.value)


async def test_hook_register_registries_stored_logins(engine: AsyncEngine) -> None:
    """The built-in plugin: an organization's stored login, only for its own images."""
    sessions = session_factory(engine)
    async with sessions() as session:
        mine = await register(session, SYSTEM, email="a@example.com", password="long password 1")
        await credentials.create_credential(
            session,
            SYSTEM,
            mine.organization.id,
            server="registry.example.com:5000",
            username="robot",
            password="s3cret-value",
        )
        await session.commit()
    manager = PluginManager.load(process=Process.WORKER)
    manager.bind(ProcessResources(sessions=sessions))
    logins = PullLogins.from_catalog(await manager.image_registries())
    found = await logins.for_image(mine.organization.id, "registry.example.com:5000/app:2")
    assert found == RegistryCredentials("registry.example.com:5000", "robot", "s3cret-value")
    assert await logins.for_image(uuid.uuid4(), "registry.example.com:5000/app:2") is None
    assert await logins.for_image(mine.organization.id, "ghcr.io/app:2") is None


class _MemoryStorage:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    async def put(self, key: str, chunks: AsyncIterator[bytes]) -> int:
        data = b"".join([c async for c in chunks])
        self.objects[key] = data
        return len(data)

    async def get(self, key: str) -> AsyncIterator[bytes]:
        yield self.objects[key]

    async def delete(self, key: str) -> None:
        self.objects.pop(key, None)

    async def list(self, prefix: str) -> list[str]:
        return sorted(k for k in self.objects if k.startswith(prefix))


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_hook_register_storage() -> None:
    class Plugin:
        @hookimpl
        def register_storage(self, registry: StorageCatalog) -> None:
            registry.add(
                "memory", PluginFactory("memory", "memory", NoConfig, lambda _: _MemoryStorage())
            )

    storage = (await _manager(("st", Plugin())).storage()).get("memory").create(NoConfig())
    assert isinstance(storage, Storage)
    assert await storage.put("b/1", _chunks(b"ab", b"c")) == 3
    assert [c async for c in storage.get("b/1")] == [b"abc"]
    assert await storage.list("b/") == ["b/1"]
    await storage.delete("b/1")
    assert await storage.list("") == []


class _CopyEngine:
    def __init__(self, data: dict[str, bytes]) -> None:
        self.data = data

    async def backup(self, source: str, storage: Storage, key: str) -> BackupResult:
        size = await storage.put(key, _chunks(self.data[source]))
        return BackupResult(key=key, size_bytes=size)

    async def restore(self, source: str, storage: Storage, key: str) -> None:
        self.data[source] = b"".join([c async for c in storage.get(key)])


async def test_hook_register_backup_engines() -> None:
    data = {"db": b"rows"}

    class Plugin:
        @hookimpl
        def register_backup_engines(self, registry: BackupEngineCatalog) -> None:
            registry.add(
                "copy", PluginFactory("copy", "copies", NoConfig, lambda _: _CopyEngine(data))
            )

    engine = (await _manager(("bk", Plugin())).backup_engines()).get("copy").create(NoConfig())
    assert isinstance(engine, BackupEngine)
    storage = _MemoryStorage()
    assert await engine.backup("db", storage, "k") == BackupResult("k", 4)
    data["db"] = b""
    await engine.restore("db", storage, "k")
    assert data["db"] == b"rows"


async def test_hook_register_routes(api_settings: Settings) -> None:
    class Plugin:
        @hookimpl
        def register_routes(self, app: Quart, context: PluginContext) -> None:
            bp = Blueprint("hello_plugin", __name__)

            @bp.get("/hello-plugin")
            @public
            async def hello() -> dict[str, str]:
                return {"from": context.plugin}

            app.register_blueprint(bp)

    class AsyncRoutes:
        @hookimpl
        async def register_routes(self, app: Quart) -> None:
            raise AssertionError("never awaited")

    manager = _manager(("hello", Plugin()), ("late", AsyncRoutes()))
    app = create_app(api_settings, manager)
    async with app.test_app():
        reply = await app.test_client().get("/hello-plugin")
        assert reply.status_code == 200
        assert await reply.get_json() == {"from": "hello"}
    assert [(f.name, f.error) for f in manager.failures] == [
        ("late", "TypeError: register_routes must not be async")
    ]


def test_hook_register_commands() -> None:
    from meshploy_core.cli.main import RootGroup

    class Plugin:
        @hookimpl
        def register_commands(self, cli: click.Group, context: PluginContext) -> None:
            @cli.command("greet")
            def greet() -> None:
                click.echo(f"hello from {context.plugin}")

    class Clobber:
        @hookimpl
        def register_commands(self, cli: click.Group) -> None:
            cli.add_command(click.Command("db", callback=lambda: None))

    root = RootGroup("meshploy")
    root.manager = _manager(("greeter", Plugin()), ("clobber", Clobber()))
    root.manager.call_sync("register_commands", cli=root, context=_context_slot())
    result = CliRunner().invoke(root, ["greet"])
    assert result.exit_code == 0, result.output
    assert result.output == "hello from greeter\n"
    [failure] = root.manager.failures
    assert failure.name == "clobber"
    assert "the command 'db' exists already; not replaced" in failure.error


def _context_slot() -> Any:
    from meshploy_core.plugins.manager import CONTEXT

    return CONTEXT
