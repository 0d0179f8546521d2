"""Hostnames an organization serves (platform and custom domains)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from meshploy_core.db.base import Base, created_at, uuid_pk


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
