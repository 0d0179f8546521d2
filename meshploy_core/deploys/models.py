"""Deployments of services and their event logs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from meshploy_core.db.base import Base, created_at, uuid_pk
from meshploy_core.encryption.columns import EncryptedString

DEPLOYMENT_STATUSES = ("queued", "deploying", "healthy", "failed", "cancelled", "superseded")


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
