"""Projects, services and their deployments."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from meshploy_core.db.base import Base, created_at, utcnow, uuid_pk
from meshploy_core.db.types import EncryptedString

DEPLOYMENT_STATUSES = ("queued", "deploying", "healthy", "failed", "cancelled", "superseded")


class Project(Base):
    """A group of services; its slug names the Kubernetes namespace."""

    __tablename__ = "projects"
    __table_args__ = (UniqueConstraint("org_id", "slug"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    slug: Mapped[str] = mapped_column(String(63))
    created_at: Mapped[datetime] = created_at()


class Service(Base):
    """A long-running workload. ``spec`` is the desired state; env values are encrypted."""

    __tablename__ = "services"
    __table_args__ = (
        UniqueConstraint("project_id", "name"),
        Index(
            "uq_services_hostname",
            "hostname",
            unique=True,
            postgresql_where=text("hostname IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(63))
    image: Mapped[str] = mapped_column(Text)
    port: Mapped[int] = mapped_column(Integer)
    replicas: Mapped[int] = mapped_column(Integer, server_default="1")
    spec: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    env: Mapped[str | None] = mapped_column(EncryptedString("services.env"))
    #: Public hostname the proxy routes to this service (None: not exposed).
    hostname: Mapped[str | None] = mapped_column(String(253))
    #: Set by a delete request; the reconciler removes the Kubernetes objects, then the row.
    deleted_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = mapped_column(
        default=utcnow, onupdate=utcnow, server_default=func.now()
    )


class Deployment(Base):
    """One deploy of a service: the image and the full spec snapshot it applied."""

    __tablename__ = "deployments"
    __table_args__ = (
        CheckConstraint(f"status IN {DEPLOYMENT_STATUSES!r}", name="status_known"),
        Index("ix_deployments_service_created", "service_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    image: Mapped[str] = mapped_column(Text)
    spec_snapshot: Mapped[dict[str, Any]] = mapped_column(JSONB)
    env_snapshot: Mapped[str | None] = mapped_column(EncryptedString("deployments.env_snapshot"))
    status: Mapped[str] = mapped_column(String(16), server_default="queued")
    reason: Mapped[str | None] = mapped_column(Text)
    triggered_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    rollback_of: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("deployments.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = created_at()
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    cancel_requested_at: Mapped[datetime | None]


class DeploymentEvent(Base):
    """One line of a deployment's log: our progress, Kubernetes events and pod states."""

    __tablename__ = "deployment_events"
    __table_args__ = (
        Index("ix_deployment_events_deployment_id_id", "deployment_id", "id"),
        Index(
            "uq_deployment_events_dedupe",
            "deployment_id",
            "dedupe_key",
            unique=True,
            postgresql_where=text("dedupe_key IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    deployment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE")
    )
    source: Mapped[str] = mapped_column(String(16))
    level: Mapped[str] = mapped_column(String(8), server_default="info")
    message: Mapped[str] = mapped_column(Text)
    dedupe_key: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = created_at()


class RegistryCredential(Base):
    """Credentials for a private container registry, used for images on that registry.

    A service whose image lives on ``server`` (``ghcr.io``, ``registry.example.com:5000``) is
    pulled with these credentials: the reconciler writes them into an image pull Secret in
    the project's namespace. The password is encrypted and never leaves the server.
    """

    __tablename__ = "registry_credentials"
    __table_args__ = (UniqueConstraint("org_id", "server"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    server: Mapped[str] = mapped_column(String(253))
    username: Mapped[str] = mapped_column(String(255))
    password: Mapped[str] = mapped_column(EncryptedString("registry_credentials.password"))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = mapped_column(
        default=utcnow, onupdate=utcnow, server_default=func.now()
    )
