"""Routes: hostname -> upstreams, read by the edge proxy."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from meshploy_core.db.base import Base, utcnow, uuid_pk

ROUTES_CHANNEL = "meshploy_routes"


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
