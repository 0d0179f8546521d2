"""Re-encrypt every encrypted column under the current key (``admin rotate-encryption-key``).

Safe to interrupt and re-run: it only rewrites values not yet sealed under the current key,
each batch commits on its own, and an update only applies if the stored value is still the
one that was read (a concurrent write is never overwritten).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import TableClause, and_, column, select, table, text, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.types import Text

from meshploy_core.db.schema import Base
from meshploy_core.encryption.columns import EncryptedString
from meshploy_core.encryption.keyring import KeyRing
from meshploy_core.errors import DecryptionError


@dataclass(frozen=True)
class EncryptedColumn:
    """One encrypted column: its table, primary key, name and AEAD purpose."""

    table: str
    pk: str
    name: str
    purpose: str


@dataclass
class RotationReport:
    """How many values were looked at and rewritten, per column."""

    scanned: int = 0
    rotated: int = 0
    per_column: dict[str, int] | None = None


def encrypted_columns() -> list[EncryptedColumn]:
    """Every :class:`EncryptedString` column in the schema."""
    found = []
    for tbl in Base.metadata.sorted_tables:
        pk_cols = list(tbl.primary_key.columns)
        for col in tbl.columns:
            if isinstance(col.type, EncryptedString):
                found.append(EncryptedColumn(tbl.name, pk_cols[0].name, col.name, col.type.purpose))
    return found


def _raw_table(col: EncryptedColumn) -> TableClause:
    # Plain TEXT view of the table so values are read and written as stored, not decrypted.
    return table(col.table, column(col.pk), column(col.name, Text))


async def rotate(
    engine: AsyncEngine,
    keyring: KeyRing,
    batch_size: int = 500,
    progress: Callable[[str, int, int], None] | None = None,
) -> RotationReport:
    """Rewrite every value sealed under an old key; raise DecryptionError naming the row."""
    report = RotationReport(per_column={})
    assert report.per_column is not None
    for col in encrypted_columns():
        raw = _raw_table(col)
        pk, val = raw.c[col.pk], raw.c[col.name]
        rotated = 0
        last_pk: object = None
        while True:
            query = select(pk, val).where(val.is_not(None))
            query = query.where(~val.startswith(f"mp1:{keyring.current_id}:"))
            if last_pk is not None:
                query = query.where(pk > last_pk)
            query = query.order_by(pk).limit(batch_size)
            async with engine.begin() as conn:
                rows = (await conn.execute(query)).all()
                if not rows:
                    break
                for row_pk, stored in rows:
                    report.scanned += 1
                    try:
                        plain = keyring.decrypt(stored, col.purpose)
                    except DecryptionError as exc:
                        raise DecryptionError(
                            f"{col.table}.{col.name} row {row_pk}: {exc}; nothing in this "
                            "batch was changed"
                        ) from None
                    result = await conn.execute(
                        update(raw)
                        .where(and_(pk == row_pk, val == stored))
                        .values({col.name: keyring.encrypt(plain, col.purpose)})
                    )
                    rotated += result.rowcount
                last_pk = rows[-1][0]
            if progress:
                progress(f"{col.table}.{col.name}", rotated, len(rows))
        report.per_column[f"{col.table}.{col.name}"] = rotated
        report.rotated += rotated
    return report


async def count_stale(engine: AsyncEngine, keyring: KeyRing) -> int:
    """How many stored values are not yet sealed under the current key."""
    total = 0
    async with engine.connect() as conn:
        for col in encrypted_columns():
            result = await conn.execute(
                text(
                    f'SELECT count(*) FROM "{col.table}" WHERE "{col.name}" IS NOT NULL '
                    f'AND "{col.name}" NOT LIKE :prefix'
                ),
                {"prefix": f"mp1:{keyring.current_id}:%"},
            )
            total += int(result.scalar_one())
    return total
