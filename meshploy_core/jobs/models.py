"""Jobs (a project's cron jobs) and their runs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
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
from meshploy_core.encryption.columns import EncryptedString

RUN_STATUSES = ("pending", "running", "succeeded", "failed")
RUN_TRIGGERS = ("schedule", "manual")


class Job(Base):
    """A cron job: what to run, when, and how. ``spec`` holds everything but the name, the
    image choice and the environment (sealed)."""

    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("project_id", "name"),
        CheckConstraint("(image IS NULL) <> (image_from_service IS NULL)", name="one_image"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(52))
    image: Mapped[str | None] = mapped_column(Text)
    #: Run the image of this service of the project (its current deployment's image).
    image_from_service: Mapped[str | None] = mapped_column(String(63))
    spec: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    env: Mapped[str | None] = mapped_column(EncryptedString("jobs.env"))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = mapped_column(
        default=utcnow, onupdate=utcnow, server_default=func.now()
    )


class JobRun(Base):
    """One run of a job, as Kubernetes reported it; its output is kept after the pod is gone
    (sealed: programs print secrets) until ``log_expires_at``."""

    __tablename__ = "job_runs"
    __table_args__ = (
        CheckConstraint(f"status IN {RUN_STATUSES!r}", name="status_known"),
        CheckConstraint(f"trigger IN {RUN_TRIGGERS!r}", name="trigger_known"),
        Index("ix_job_runs_job_created", "job_id", "created_at"),
        Index(
            "uq_job_runs_kube_name",
            "job_id",
            "kube_name",
            unique=True,
            postgresql_where=text("kube_name IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    #: The Kubernetes Job's name (None until a manual run's Job is created).
    kube_name: Mapped[str | None] = mapped_column(String(63))
    trigger: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), server_default="pending")
    reason: Mapped[str | None] = mapped_column(Text)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    triggered_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = created_at()
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    log: Mapped[str | None] = mapped_column(EncryptedString("job_runs.log"))
    #: Why there is no log (the pod could not be read), or that it expired.
    log_note: Mapped[str | None] = mapped_column(Text)
    log_expires_at: Mapped[datetime | None]
