"""Machines in the mesh."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.dialects.postgresql import INET, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from meshploy_core.db.base import Base, created_at, uuid_pk


class Node(Base):
    """A machine in the mesh. ``org_id`` NULL means a shared, platform-wide node."""

    __tablename__ = "nodes"

    id: Mapped[uuid.UUID] = uuid_pk()
    org_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(253), unique=True)
    mesh_ip: Mapped[str | None] = mapped_column(INET)
    labels: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    status: Mapped[str] = mapped_column(String(16), server_default="pending")
    last_seen_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at()
    notes: Mapped[str | None] = mapped_column(Text)
