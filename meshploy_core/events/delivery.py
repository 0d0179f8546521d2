"""The delivery worker: sends recorded events to their channels, at least once.

Deliveries are a queue in PostgreSQL. A worker *leases* due ones (``FOR UPDATE SKIP LOCKED``,
then ``leased_until`` in the future, committed), sends each outside any transaction, and
records the attempt. A failed attempt is retried with exponential backoff until
``max_attempts``; a worker that dies mid-send leaves a lease that expires, and another worker
sends again (so a receiver may see a delivery twice, never zero times). Several workers can
run side by side: each delivery is leased by one at a time. Nothing here blocks the
operation that recorded the event.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from meshploy_core.events.models import Delivery, Event
from meshploy_core.notifications import sending
from meshploy_core.notifications.models import NotificationChannel
from meshploy_core.notifications.sending import Backoff
from meshploy_core.plugins.catalogs import NotifierCatalog

log = logging.getLogger(__name__)

_LEASE = text(
    """
    UPDATE event_deliveries SET leased_until = now() + make_interval(secs => :lease)
    WHERE id IN (
        SELECT id FROM event_deliveries
        WHERE status = 'pending' AND next_attempt_at <= now()
          AND (leased_until IS NULL OR leased_until < now())
        ORDER BY next_attempt_at, id
        LIMIT :batch
        FOR UPDATE SKIP LOCKED
    )
    RETURNING id
    """
)


@dataclass(frozen=True)
class DeliveryConfig:
    """Batching, lease and retry timings. Defaults suit production; tests shorten them."""

    batch: int = 20
    lease_seconds: float = 120.0
    backoff: Backoff = field(default_factory=Backoff)
    #: Deliveries sent at the same time (each to its own channel).
    concurrency: int = 4


@dataclass
class DeliveryWorker:
    """Leases due deliveries and attempts each once per pass."""

    sessions: async_sessionmaker[AsyncSession]
    catalog: NotifierCatalog
    config: DeliveryConfig = field(default_factory=DeliveryConfig)

    async def run_once(self) -> int:
        """One pass; returns how many deliveries were attempted."""
        async with self.sessions() as session:
            ids = list(
                (
                    await session.execute(
                        _LEASE,
                        {"lease": self.config.lease_seconds, "batch": self.config.batch},
                    )
                ).scalars()
            )
            await session.commit()
        gate = asyncio.Semaphore(self.config.concurrency)

        async def one(delivery_id: int) -> None:
            async with gate:
                try:
                    await self._attempt(delivery_id)
                except Exception:
                    log.exception("delivery %s: attempt failed unexpectedly", delivery_id)

        await asyncio.gather(*(one(i) for i in ids))
        return len(ids)

    async def _attempt(self, delivery_id: int) -> None:
        async with self.sessions() as session:
            delivery = await session.get(Delivery, delivery_id)
            if delivery is None or delivery.status != "pending":
                return
            event = await session.get(Event, delivery.event_id)
            channel = await session.get(NotificationChannel, delivery.channel_id)
            if event is None or channel is None:
                return
            ok = await sending.attempt(
                session, self.catalog, delivery, event, channel, self.config.backoff
            )
            await session.commit()
            if not ok:
                log.warning(
                    "delivery %s of %s to channel %s: attempt %d failed: %s",
                    delivery.id,
                    event.kind,
                    channel.name,
                    delivery.attempts,
                    delivery.last_error,
                )

    async def run(self, stop: asyncio.Event, wake: asyncio.Event, interval: float = 1.0) -> None:
        """Pass after pass until ``stop``; ``wake`` (an event recorded) starts one at once."""
        while not stop.is_set():
            wake.clear()
            try:
                busy = await self.run_once()
            except Exception:
                log.exception("delivery pass failed; retrying")
                busy = 0
            if busy:
                continue
            waiters = [asyncio.ensure_future(e.wait()) for e in (stop, wake)]
            try:
                await asyncio.wait(waiters, timeout=interval, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waiters:
                    w.cancel()
