"""What plugins implement: typed Protocols and the dataclasses they exchange.

Each kind of plugin registers a *factory* (a named, described thing with a typed config class)
that creates the working object from a validated config. Configs are dataclasses or pydantic
models, never bare dicts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from meshploy_core.errors import MeshployError


class NotifierError(MeshployError):
    """A notification could not be delivered (after the notifier's own retries)."""


class DnsProviderError(MeshployError):
    """A DNS-01 record could not be written or removed."""


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


@runtime_checkable
class NotifierFactory(Protocol):
    """A kind of notifier (``webhook``, ``slack``, ...) registered by a plugin."""

    @property
    def kind(self) -> str:
        """The plugin's kind."""
        ...

    @property
    def description(self) -> str:
        """The plugin's description."""
        ...

    @property
    def config_type(self) -> type[Any]:
        """The plugin's config_type."""
        ...

    def create(self, config: Any) -> Notifier:
        """Build a notifier from a validated instance of ``config_type``."""


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

    @property
    def name(self) -> str:
        """The plugin's name."""
        ...

    @property
    def description(self) -> str:
        """The plugin's description."""
        ...

    def detect(self, files: frozenset[str]) -> bool:
        """Whether this builder applies to a repository containing ``files`` (top level)."""

    def container(self, request: BuildRequest) -> BuildContainer:
        """The container that performs ``request`` and pushes the image."""


@runtime_checkable
class DnsProvider(Protocol):
    """Writes and removes ACME DNS-01 TXT records (certbot's perform/cleanup shape)."""

    @property
    def name(self) -> str:
        """The plugin's name."""
        ...

    async def perform(self, zone: str, validation_name: str, validation: str) -> None:
        """Publish TXT ``validation`` at ``validation_name`` inside ``zone``."""

    async def cleanup(self, zone: str, validation_name: str, validation: str) -> None:
        """Remove that TXT record; failures are logged by the caller, not raised to users."""


@dataclass(frozen=True)
class RegistryCredentials:
    """Credentials for pulling/pushing images (stored encrypted by the core)."""

    server: str
    username: str
    password: str = field(repr=False)


@runtime_checkable
class ImageRegistry(Protocol):
    """A container registry images are pushed to and pulled from."""

    @property
    def name(self) -> str:
        """The plugin's name."""
        ...

    def image_ref(self, repository: str, tag: str) -> str:
        """Full reference for ``repository:tag`` in this registry."""

    def pull_credentials(self) -> RegistryCredentials | None:
        """Credentials nodes need to pull, or None for an open (mesh-only) registry."""


@runtime_checkable
class Storage(Protocol):
    """Object storage for backups and build artefacts."""

    @property
    def name(self) -> str:
        """The plugin's name."""
        ...

    async def put(self, key: str, chunks: AsyncIterator[bytes]) -> int:
        """Store a stream under ``key``; return bytes written."""

    def get(self, key: str) -> AsyncIterator[bytes]:
        """Stream the object stored under ``key``."""

    async def delete(self, key: str) -> None:
        """Remove ``key`` (no error if it is absent)."""

    async def list(self, prefix: str) -> list[str]:
        """Keys starting with ``prefix``."""


@dataclass(frozen=True)
class BackupResult:
    """Where a backup went and how big it is."""

    key: str
    size_bytes: int


@runtime_checkable
class BackupEngine(Protocol):
    """Backs up and restores one kind of data (PostgreSQL, volumes, ...)."""

    @property
    def name(self) -> str:
        """The plugin's name."""
        ...

    async def backup(self, source: str, storage: Storage, key: str) -> BackupResult:
        """Write a backup of ``source`` to ``storage`` under ``key``."""

    async def restore(self, source: str, storage: Storage, key: str) -> None:
        """Restore ``source`` from the backup stored under ``key``."""
