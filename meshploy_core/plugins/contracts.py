"""What plugins implement: typed Protocols and the dataclasses they exchange.

Every kind of plugin registers a *factory*: a named, described thing with a ``config_type``
(a dataclass or pydantic model) whose ``create(config)`` builds the working object from a
validated config. Where that config comes from depends on the kind (docs/plugins.md):

* notifiers, storage, builders, backup engines: per instance, from what a user stored through
  the API (a notification channel, a storage target, a service's build options);
* DNS providers, mesh providers, image registries: one instance per process, created with
  ``config_type()`` (its defaults); operator settings reach the plugin through its
  :class:`~meshploy_core.plugins.context.PluginContext`.

Configs are never bare dicts. Nothing here imports anything of Meshploy above the errors.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from meshploy_core.errors import MeshployError

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class NotifierError(MeshployError):
    """A notification could not be delivered (after the notifier's own retries)."""


class DnsProviderError(MeshployError):
    """A DNS-01 record could not be written or removed."""


class MeshError(MeshployError):
    """The mesh control plane refused or could not be reached."""


@dataclass(frozen=True)
class NoConfig:
    """The config of a factory that needs none."""


@runtime_checkable
class Factory(Protocol[T_co]):
    """What every plugin registers: a named kind that creates working objects from a config.

    ``NotifierFactory`` is ``Factory[Notifier]``, ``StorageFactory`` is ``Factory[Storage]``,
    and so on for every kind.
    """

    @property
    def kind(self) -> str:
        """The kind's name, as users and settings choose it (``webhook``, ``coredns``)."""
        ...

    @property
    def description(self) -> str:
        """One line for people (``meshploy plugins list``, the dashboard)."""
        ...

    @property
    def config_type(self) -> type[Any]:
        """The dataclass or pydantic model that validates a config of this kind."""
        ...

    def create(self, config: Any) -> T_co:
        """Build the working object from a validated instance of ``config_type``."""
        ...


@dataclass(frozen=True)
class PluginFactory(Generic[T]):
    """A ready-made factory: ``PluginFactory("webhook", "Signed webhook", Cfg, build)``.

    Plugins may write their own class instead; any object with these four members works.
    """

    kind: str
    description: str
    config_type: type[Any]
    build: Callable[[Any], T] = field(repr=False)

    def create(self, config: Any) -> T:
        """Build the working object from a validated ``config``."""
        return self.build(config)


# -- Notifiers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Notification:
    """Something a person should hear about (a deploy finished, a node went down, ...)."""

    event: str
    title: str
    message: str
    severity: str = "info"
    org_id: str | None = None
    project: str | None = None
    service: str | None = None
    url: str | None = None
    occurred_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready representation (the webhook body and other notifiers use it)."""
        return {
            "event": self.event,
            "title": self.title,
            "message": self.message,
            "severity": self.severity,
            "org_id": self.org_id,
            "project": self.project,
            "service": self.service,
            "url": self.url,
            "occurred_at": self.occurred_at.isoformat(),
        }


@runtime_checkable
class Notifier(Protocol):
    """A configured notification channel."""

    async def send(self, notification: Notification) -> None:
        """Deliver ``notification`` or raise :class:`NotifierError` (never hang forever)."""



#: A kind of Notifier (see :class:`Factory`).
NotifierFactory = Factory[Notifier]


# -- Builders -----------------------------------------------------------------------------


@dataclass(frozen=True)
class BuildRequest:
    """What to build: a git repository at a ref into an image reference."""

    repo_url: str
    ref: str
    image: str
    context_dir: str = "."
    dockerfile: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BuildContainer:
    """The builder container a build Job runs (rendered into a Kubernetes Job by the core)."""

    image: str
    command: tuple[str, ...]
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)


@runtime_checkable
class Builder(Protocol):
    """Turns source into an image (Nixpacks, Railpack, Dockerfile, ...)."""

    def detect(self, files: frozenset[str]) -> bool:
        """Whether this builder applies to a repository containing ``files`` (top level)."""
        ...

    def container(self, request: BuildRequest) -> BuildContainer:
        """The container that performs ``request`` and pushes the image."""
        ...



#: A kind of Builder (see :class:`Factory`).
BuilderFactory = Factory[Builder]


# -- DNS-01 providers ---------------------------------------------------------------------


@runtime_checkable
class DnsProvider(Protocol):
    """Writes and removes ACME DNS-01 TXT records (certbot's perform/cleanup shape)."""

    async def perform(self, zone: str, validation_name: str, validation: str) -> None:
        """Publish TXT ``validation`` at ``validation_name`` inside ``zone``.

        Several values may be published at one name at once (``*.d`` and ``d`` share
        ``_acme-challenge.d``); publishing adds, it never replaces another value.
        """
        ...

    async def cleanup(self, zone: str, validation_name: str, validation: str) -> None:
        """Remove that one TXT value; failures are logged by the caller, not raised to users."""
        ...



#: A kind of DnsProvider (see :class:`Factory`).
DnsProviderFactory = Factory[DnsProvider]


# -- Image registries ---------------------------------------------------------------------


@dataclass(frozen=True)
class RegistryCredentials:
    """A login for pulling (or pushing) images: registry host, user name, password."""

    server: str
    username: str
    password: str = field(repr=False)


@runtime_checkable
class ImageRegistry(Protocol):
    """A container registry images are pulled from (the mesh registry, stored logins, ...)."""

    async def pull_credentials(self, org_id: uuid.UUID, image: str) -> RegistryCredentials | None:
        """The login nodes need to pull ``image`` for organization ``org_id``.

        None when this registry does not hold ``image`` or needs no login for it. Called by
        the reconciler at every apply, so a rotated password takes effect at the next one.
        """
        ...



#: A kind of ImageRegistry (see :class:`Factory`).
ImageRegistryFactory = Factory[ImageRegistry]


# -- Mesh providers -----------------------------------------------------------------------


@dataclass(frozen=True)
class MeshNode:
    """A machine as the mesh control plane sees it."""

    id: str
    name: str
    addresses: tuple[str, ...]
    online: bool
    last_seen: datetime | None = None


@dataclass(frozen=True)
class JoinKey:
    """A single-use key a machine uses once to join the mesh (shown once, never stored)."""

    key: str = field(repr=False)
    expires_at: datetime
    control_url: str


@runtime_checkable
class MeshProvider(Protocol):
    """The mesh control plane (Headscale): join keys and the machines that joined."""

    async def create_join_key(self, org_id: uuid.UUID, ttl_seconds: int) -> JoinKey:
        """A single-use key expiring after ``ttl_seconds``."""
        ...

    async def list_nodes(self) -> list[MeshNode]:
        """Every machine in the mesh."""
        ...

    async def delete_node(self, node_id: str) -> None:
        """Remove a machine from the mesh (no error if it is gone already)."""
        ...



#: A kind of MeshProvider (see :class:`Factory`).
MeshProviderFactory = Factory[MeshProvider]


# -- Storage and backups ------------------------------------------------------------------


@runtime_checkable
class Storage(Protocol):
    """Object storage for backups and build artefacts."""

    async def put(self, key: str, chunks: AsyncIterator[bytes]) -> int:
        """Store a stream under ``key``; return bytes written."""
        ...

    def get(self, key: str) -> AsyncIterator[bytes]:
        """Stream the object stored under ``key``."""
        ...

    async def delete(self, key: str) -> None:
        """Remove ``key`` (no error if it is absent)."""
        ...

    async def list(self, prefix: str) -> list[str]:
        """Keys starting with ``prefix``."""
        ...



#: A kind of Storage (see :class:`Factory`).
StorageFactory = Factory[Storage]


@dataclass(frozen=True)
class BackupResult:
    """Where a backup went and how big it is."""

    key: str
    size_bytes: int


@runtime_checkable
class BackupEngine(Protocol):
    """Backs up and restores one kind of data (PostgreSQL, volumes, ...)."""

    async def backup(self, source: str, storage: Storage, key: str) -> BackupResult:
        """Write a backup of ``source`` to ``storage`` under ``key``."""
        ...

    async def restore(self, source: str, storage: Storage, key: str) -> None:
        """Restore ``source`` from the backup stored under ``key``."""
        ...



#: A kind of BackupEngine (see :class:`Factory`).
BackupEngineFactory = Factory[BackupEngine]
