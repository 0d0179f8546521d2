"""Stored logins for private container registries (used by the registries plugin)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    ForeignKey,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from meshploy_core.db.base import Base, created_at, utcnow, uuid_pk
from meshploy_core.encryption.columns import EncryptedString


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
