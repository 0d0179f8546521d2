"""Time-series metric samples of nodes and services (BRIN-indexed by time)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Double, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from meshploy_core.db.base import Base


class MetricSample(Base):
    """One measurement of a node or service at a time. BRIN suits append-only time series."""

    __tablename__ = "metric_samples"
    __table_args__ = (Index("idx_metric_samples_ts_brin", "ts", postgresql_using="brin"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    org_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    node_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"))
    service_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("services.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Double)
    ts: Mapped[datetime]
