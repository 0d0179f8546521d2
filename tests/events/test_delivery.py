"""The event stream on a real PostgreSQL, delivered to real receivers on loopback: fan-out
to the channels that want an event, recording inside the caller's transaction (nothing is
sent then), the leased queue with retries, backoff and every attempt recorded, at-least-once
across a crashed worker, and two workers never sending one delivery twice at once."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from meshploy_notifiers.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from meshploy_core.audit import SYSTEM
from meshploy_core.db.base import utcnow
from meshploy_core.db.engine import session_factory
from meshploy_core.events import EventKind, record_event
from meshploy_core.events.delivery import DeliveryConfig, DeliveryWorker
from meshploy_core.events.models import Delivery, DeliveryAttempt, Event
from meshploy_core.notifications import channels
from meshploy_core.notifications.models import NotificationChannel
from meshploy_core.notifications.sending import Backoff
from meshploy_core.organizations.models import Organization
from meshploy_core.plugins.catalogs import NotifierCatalog
from meshploy_core.plugins.manager import PluginManager
from meshploy_core.projects.models import Project
from meshploy_core.testing.poll import eventually
from meshploy_core.testing.receiver import HttpReceiver

SECRET = "whsec-delivery-0123456789"
FAST = DeliveryConfig(backoff=Backoff(base=0.05, cap=0.2, max_attempts=3), lease_seconds=30)


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(engine)


@pytest.fixture
async def catalog() -> NotifierCatalog:
    return await PluginManager.load().notifiers()


async def _org(
    sessions: async_sessionmaker[AsyncSession],
) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """An organization with projects ``a`` and ``b``."""
    async with sessions() as s:
        org = Organization(id=uuid.uuid4(), name="Acme", slug=f"acme-{uuid.uuid4().hex[:6]}")
        s.add(org)
        await s.flush()
        a = Project(id=uuid.uuid4(), org_id=org.id, name="A", slug="a")
        b = Project(id=uuid.uuid4(), org_id=org.id, name="B", slug="b")
        s.add_all([a, b])
        await s.commit()
        return org.id, a.id, b.id


async def _channel(
    sessions: async_sessionmaker[AsyncSession],
    catalog: NotifierCatalog,
    org_id: uuid.UUID,
    name: str,
    url: str,
    *,
    project_id: uuid.UUID | None = None,
    events: list[str] | None = None,
) -> uuid.UUID:
    async with sessions() as s:
        channel = await channels.create_channel(
            s,
            SYSTEM,
            catalog,
            org_id,
            project_id,
            name=name,
            kind="webhook",
            config={"url": url, "secret": SECRET},
            events=events or [],
            verify=False,
        )
        await s.commit()
        return channel.id


async def _record(
    sessions: async_sessionmaker[AsyncSession],
    org_id: uuid.UUID,
    project_id: uuid.UUID | None,
    kind: EventKind = EventKind.DEPLOYMENT_FAILED,
) -> int:
    async with sessions() as s:
        event = await record_event(
            s,
            kind,
            org_id=org_id,
            project_id=project_id,
            title="api failed to deploy",
            message="image pull failed",
            details={"project": "a", "service": "api"},
        )
        await s.commit()
        return event.id


async def _deliveries(
    sessions: async_sessionmaker[AsyncSession], event_id: int
) -> dict[uuid.UUID, Delivery]:
    async with sessions() as s:
        rows = await s.scalars(select(Delivery).where(Delivery.event_id == event_id))
        return {d.channel_id: d for d in rows}


async def _attempts(sessions: async_sessionmaker[AsyncSession], delivery_id: int) -> list[Any]:
    async with sessions() as s:
        rows = await s.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.delivery_id == delivery_id)
            .order_by(DeliveryAttempt.number)
        )
        return [(a.number, a.ok, a.error) for a in rows]


async def test_events_fan_out_to_the_channels_that_want_them(
    sessions: async_sessionmaker[AsyncSession], catalog: NotifierCatalog, closed_url: str
) -> None:
    org, a, b = await _org(sessions)
    other_org, _, _ = await _org(sessions)
    everything = await _channel(sessions, catalog, org, "all", closed_url)
    project_a = await _channel(sessions, catalog, org, "a", closed_url, project_id=a)
    jobs_only = await _channel(
        sessions, catalog, org, "jobs", closed_url, events=["job_run.failed"]
    )
    disabled = await _channel(sessions, catalog, org, "off", closed_url)
    await _channel(sessions, catalog, other_org, "theirs", closed_url)
    async with sessions() as s:
        await s.execute(
            update(NotificationChannel)
            .where(NotificationChannel.id == disabled)
            .values(enabled=False)
        )
        await s.commit()

    in_a = await _deliveries(sessions, await _record(sessions, org, a))
    assert set(in_a) == {everything, project_a}
    in_b = await _deliveries(sessions, await _record(sessions, org, b))
    assert set(in_b) == {everything}
    job = await _deliveries(sessions, await _record(sessions, org, a, EventKind.JOB_RUN_FAILED))
    assert set(job) == {everything, project_a, jobs_only}
    assert all(d.status == "pending" and d.attempts == 0 for d in in_a.values())


async def test_recording_is_part_of_the_callers_transaction_and_sends_nothing(
    sessions: async_sessionmaker[AsyncSession],
    catalog: NotifierCatalog,
    http_receiver: HttpReceiver,
) -> None:
    org, a, _ = await _org(sessions)
    await _channel(sessions, catalog, org, "hook", http_receiver.url)
    async with sessions() as s:
        await record_event(s, EventKind.DEPLOYMENT_FAILED, org_id=org, project_id=a, title="x")
        await s.rollback()  # the operation that caused it failed: no event, no delivery
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Event)) == 0
        assert await s.scalar(select(func.count()).select_from(Delivery)) == 0
    await _record(sessions, org, a)
    assert http_receiver.requests == [], "recording must never send (the worker does)"


async def test_worker_delivers_a_signed_webhook_and_records_the_attempt(
    sessions: async_sessionmaker[AsyncSession],
    catalog: NotifierCatalog,
    http_receiver: HttpReceiver,
) -> None:
    org, a, _ = await _org(sessions)
    channel = await _channel(sessions, catalog, org, "hook", http_receiver.url + "/in")
    event_id = await _record(sessions, org, a)
    assert await DeliveryWorker(sessions, catalog, FAST).run_once() == 1
    [req] = http_receiver.wait_for(lambda r: len(r) == 1)
    assert req.path == "/in"
    assert verify(SECRET, req.headers[TIMESTAMP_HEADER], req.body, req.headers[SIGNATURE_HEADER])
    body = json.loads(req.body)
    assert (body["event"], body["title"], body["project"], body["service"]) == (
        "deployment.failed",
        "api failed to deploy",
        "a",
        "api",
    )
    delivery = (await _deliveries(sessions, event_id))[channel]
    assert (delivery.status, delivery.attempts) == ("delivered", 1)
    assert await _attempts(sessions, delivery.id) == [(1, True, None)]
    assert await DeliveryWorker(sessions, catalog, FAST).run_once() == 0, "delivered once"


async def test_a_receiver_that_is_down_is_retried_with_backoff_and_attempts_are_visible(
    sessions: async_sessionmaker[AsyncSession],
    catalog: NotifierCatalog,
    http_receiver: HttpReceiver,
) -> None:
    org, a, _ = await _org(sessions)
    channel = await _channel(sessions, catalog, org, "hook", http_receiver.url)
    http_receiver.fail_next(2, status=503)
    event_id = await _record(sessions, org, a)
    worker = DeliveryWorker(sessions, catalog, FAST)

    async def delivered() -> Delivery | None:
        await worker.run_once()
        d = (await _deliveries(sessions, event_id))[channel]
        return d if d.status != "pending" else None

    done = await eventually(delivered, 30, "the delivery to succeed on its third attempt")
    assert (done.status, done.attempts) == ("delivered", 3)
    attempts = await _attempts(sessions, done.id)
    assert attempts == [
        (1, False, f"webhook delivery failed: {http_receiver.url} answered HTTP 503"),
        (2, False, f"webhook delivery failed: {http_receiver.url} answered HTTP 503"),
        (3, True, None),
    ]
    assert len(http_receiver.requests) == 3
    assert len({r.body for r in http_receiver.requests}) == 1, "retries resend the same event"


async def test_gives_up_after_max_attempts_with_secret_free_errors(
    sessions: async_sessionmaker[AsyncSession], catalog: NotifierCatalog, closed_url: str
) -> None:
    org, a, _ = await _org(sessions)
    channel = await _channel(sessions, catalog, org, "down", closed_url)
    event_id = await _record(sessions, org, a)
    worker = DeliveryWorker(sessions, catalog, FAST)

    async def failed() -> Delivery | None:
        await worker.run_once()
        d = (await _deliveries(sessions, event_id))[channel]
        return d if d.status == "failed" else None

    done = await eventually(failed, 30, "the delivery to fail after 3 attempts")
    attempts = await _attempts(sessions, done.id)
    assert [n for n, ok, _ in attempts if not ok] == [1, 2, 3]
    assert all("ConnectError contacting" in (e or "") for _, _, e in attempts)
    assert all(SECRET not in (e or "") for _, _, e in attempts)
    assert await worker.run_once() == 0, "a failed delivery is not retried again"


async def test_a_crashed_workers_lease_expires_and_the_delivery_is_sent(
    sessions: async_sessionmaker[AsyncSession],
    catalog: NotifierCatalog,
    http_receiver: HttpReceiver,
) -> None:
    org, a, _ = await _org(sessions)
    channel = await _channel(sessions, catalog, org, "hook", http_receiver.url)
    event_id = await _record(sessions, org, a)
    delivery = (await _deliveries(sessions, event_id))[channel]
    async with sessions() as s:  # a worker leased it, then died before sending
        await s.execute(
            update(Delivery)
            .where(Delivery.id == delivery.id)
            .values(leased_until=utcnow() + timedelta(hours=1))
        )
        await s.commit()
    worker = DeliveryWorker(sessions, catalog, FAST)
    assert await worker.run_once() == 0, "a leased delivery belongs to its worker"
    async with sessions() as s:
        await s.execute(
            update(Delivery)
            .where(Delivery.id == delivery.id)
            .values(leased_until=utcnow() - timedelta(seconds=1))
        )
        await s.commit()
    assert await worker.run_once() == 1
    http_receiver.wait_for(lambda r: len(r) == 1)
    assert (await _deliveries(sessions, event_id))[channel].status == "delivered"


async def test_two_workers_never_send_a_delivery_twice(
    sessions: async_sessionmaker[AsyncSession],
    catalog: NotifierCatalog,
    http_receiver: HttpReceiver,
) -> None:
    org, a, _ = await _org(sessions)
    await _channel(sessions, catalog, org, "hook", http_receiver.url)
    for _ in range(30):
        await _record(sessions, org, a)
    config = DeliveryConfig(batch=5, backoff=FAST.backoff)
    workers = [DeliveryWorker(sessions, catalog, config) for _ in range(2)]

    async def drain(worker: DeliveryWorker) -> int:
        total = 0
        while (sent := await worker.run_once()) > 0:
            total += sent
        return total

    counts = await asyncio.gather(*(drain(w) for w in workers))
    assert sum(counts) == 30, counts
    http_receiver.wait_for(lambda r: len(r) == 30)
    assert len(http_receiver.requests) == 30
    bodies = [r.body for r in http_receiver.requests]
    async with sessions() as s:
        assert (
            await s.scalar(
                select(func.count()).select_from(Delivery).where(Delivery.status == "delivered")
            )
            == 30
        )
    assert len(bodies) == 30
