"""Domains, routes (read by the edge proxy) and mesh nodes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import INET, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from meshploy_core.db.base import Base, created_at, utcnow, uuid_pk

ROUTES_CHANNEL = "meshploy_routes"


class Domain(Base):
    """A hostname an organization serves. Unique per org; once verified, unique globally."""

    __tablename__ = "domains"
    __table_args__ = (
        CheckConstraint("kind IN ('platform', 'custom')", name="kind_known"),
        UniqueConstraint("org_id", "hostname", name="idx_unique_domain_per_org"),
        Index(
            "idx_unique_verified_domain",
            "hostname",
            unique=True,
            postgresql_where=text("verified_at IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    service_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("services.id", ondelete="SET NULL")
    )
    hostname: Mapped[str] = mapped_column(String(253))
    kind: Mapped[str] = mapped_column(String(16))
    verification_token: Mapped[str | None] = mapped_column(String(64))
    verified_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at()


class Route(Base):
    """Hostname (+ optional path prefix) -> upstreams. Every change NOTIFYs ``meshploy_routes``.

    ``upstreams`` is a JSON list of ``{"host": "<mesh ip>", "port": <node port>}``.
    """

    __tablename__ = "routes"
    __table_args__ = (UniqueConstraint("hostname", "path_prefix"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    org_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    service_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("services.id", ondelete="CASCADE"), index=True
    )
    hostname: Mapped[str] = mapped_column(String(253))
    path_prefix: Mapped[str] = mapped_column(String(255), server_default="/")
    upstreams: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    updated_at: Mapped[datetime] = mapped_column(
        default=utcnow, onupdate=utcnow, server_default=text("now()")
    )


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
