"""Alembic environment. Always run through :mod:`meshploy_core.db.migrate`, which hands us an
open connection, so there is exactly one way migrations connect."""

from __future__ import annotations

from alembic import context

from meshploy_core.db.schema import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `meshploy db upgrade`, not the alembic CLI")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    compare_type=True,
    transaction_per_migration=True,
)
with context.begin_transaction():
    context.run_migrations()
