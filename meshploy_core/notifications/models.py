"""Notification channels."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, String, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from meshploy_core.db.base import Base, created_at, utcnow, uuid_pk
from meshploy_core.encryption.columns import EncryptedString


class NotificationChannel(Base):
    """Where events of an organization (or of one project) are delivered.

    ``config`` is the notifier's settings as JSON, sealed as a whole (URLs of chat webhooks
    and SMTP passwords are secrets); ``events`` lists the subscribed event kinds.
    """

    __tablename__ = "notification_channels"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    project_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(63))
    config: Mapped[str] = mapped_column(EncryptedString("notification_channels.config"))
    events: Mapped[list[Any]] = mapped_column(JSONB, server_default="[]")
    enabled: Mapped[bool] = mapped_column(Boolean, server_default="true")
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = mapped_column(
        default=utcnow, onupdate=utcnow, server_default=func.now()
    )
