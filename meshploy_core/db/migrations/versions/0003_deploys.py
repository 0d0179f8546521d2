"""deploys: service hostname and deletion, deployment events

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deployment_events",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("deployment_id", sa.Uuid(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("level", sa.String(length=8), server_default="info", nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=255), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_deployment_events_deployment_id_deployments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment_events")),
    )
    op.create_index(
        "ix_deployment_events_deployment_id_id",
        "deployment_events",
        ["deployment_id", "id"],
        unique=False,
    )
    op.create_index(
        "uq_deployment_events_dedupe",
        "deployment_events",
        ["deployment_id", "dedupe_key"],
        unique=True,
        postgresql_where=sa.text("dedupe_key IS NOT NULL"),
    )
    op.add_column(
        "deployments", sa.Column("cancel_requested_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("services", sa.Column("hostname", sa.String(length=253), nullable=True))
    op.add_column("services", sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "uq_services_hostname",
        "services",
        ["hostname"],
        unique=True,
        postgresql_where=sa.text("hostname IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "uq_services_hostname",
        table_name="services",
        postgresql_where=sa.text("hostname IS NOT NULL"),
    )
    op.drop_column("services", "deleted_at")
    op.drop_column("services", "hostname")
    op.drop_column("deployments", "cancel_requested_at")
    op.drop_index(
        "uq_deployment_events_dedupe",
        table_name="deployment_events",
        postgresql_where=sa.text("dedupe_key IS NOT NULL"),
    )
    op.drop_index("ix_deployment_events_deployment_id_id", table_name="deployment_events")
    op.drop_table("deployment_events")
