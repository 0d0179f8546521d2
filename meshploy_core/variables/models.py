"""Variable groups and where they are attached."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from meshploy_core.db.base import Base, created_at, utcnow, uuid_pk
from meshploy_core.encryption.columns import EncryptedString


class VariableGroup(Base):
    """A named set of variables of an organization (``project_id`` None) or one project.

    ``variables`` is the JSON object of names to values, sealed as a whole.
    """

    __tablename__ = "variable_groups"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    project_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(63))
    variables: Mapped[str | None] = mapped_column(EncryptedString("variable_groups.variables"))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = mapped_column(
        default=utcnow, onupdate=utcnow, server_default=func.now()
    )


class VariableGroupUse(Base):
    """A group attached to a service or a job, at a position (later groups win)."""

    __tablename__ = "variable_group_uses"
    __table_args__ = (
        CheckConstraint("(service_id IS NULL) <> (job_id IS NULL)", name="one_user"),
        Index("uq_variable_group_uses_service", "service_id", "group_id", unique=True),
        Index("uq_variable_group_uses_job", "job_id", "group_id", unique=True),
        Index("ix_variable_group_uses_group_id", "group_id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    group_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("variable_groups.id", ondelete="CASCADE")
    )
    service_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("services.id", ondelete="CASCADE")
    )
    job_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
