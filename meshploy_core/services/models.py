"""Services: long-running workloads and their desired state."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
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
from meshploy_core.encryption.columns import EncryptedString


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
