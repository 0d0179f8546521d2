"""Notification channels of an organization or a project: create, read, change, delete,
test-send. Settings are validated by the notifier kind's ``config_type``, stored sealed, and
read back with their secret fields masked (:mod:`.configs`).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from meshploy_core import audit
from meshploy_core.audit import Actor
from meshploy_core.db.base import utcnow
from meshploy_core.db.paging import Page, PageRequest, fetch_page
from meshploy_core.errors import Conflict, NotFound, PluginError, ValidationFailed
from meshploy_core.events.kinds import EventKind
from meshploy_core.events.models import Delivery, DeliveryAttempt, Event
from meshploy_core.events.record import record_event
from meshploy_core.notifications import configs, sending
from meshploy_core.notifications.models import NotificationChannel
from meshploy_core.plugins.catalogs import NotifierCatalog
from meshploy_core.plugins.contracts import Notification, NotifierFactory

SUBSCRIBABLE = tuple(k.value for k in EventKind if k is not EventKind.CHANNEL_TEST)


def _factory(catalog: NotifierCatalog, kind: str) -> NotifierFactory:
    try:
        return catalog.get(kind)
    except PluginError:
        known = ", ".join(catalog.names()) or "none"
        raise ValidationFailed(
            f"kind {kind!r} is not an installed notifier; available: {known}",
            {"kind": f"must be one of: {known}"},
        ) from None


def _check_events(events: list[str]) -> None:
    unknown = [e for e in events if e not in SUBSCRIBABLE]
    if unknown:
        raise ValidationFailed(
            f"unknown event kinds: {', '.join(unknown)}",
            {"events": f"each must be one of: {', '.join(SUBSCRIBABLE)}"},
        )


async def _verify(
    catalog: NotifierCatalog, factory: NotifierFactory, name: str, stored: dict[str, Any]
) -> None:
    """Send a test message; refuse the change (nothing stored) when it cannot be delivered."""
    probe = NotificationChannel(kind=factory.kind, config=json.dumps(stored), name=name)
    error = await sending.send(
        catalog,
        probe,
        Notification(
            event=EventKind.CHANNEL_TEST.value,
            title=f"Meshploy channel {name} is connected",
            message="Notifications for this channel will arrive here.",
        ),
    )
    if error is not None:
        field = configs.field_of_address(stored)
        raise ValidationFailed(
            f"a test message could not be delivered ({error}); check {field} "
            "(or pass verify: false to save it anyway)",
            {field: f"could not be reached: {error}"},
        )


async def _name_free(
    session: AsyncSession, org_id: uuid.UUID, name: str, channel_id: uuid.UUID | None
) -> None:
    query = select(NotificationChannel.id).where(
        NotificationChannel.org_id == org_id, NotificationChannel.name == name
    )
    if channel_id is not None:
        query = query.where(NotificationChannel.id != channel_id)
    if await session.scalar(query) is not None:
        raise Conflict(f"name: this organization already has a channel named {name!r}")


async def create_channel(
    session: AsyncSession,
    actor: Actor,
    catalog: NotifierCatalog,
    org_id: uuid.UUID,
    project_id: uuid.UUID | None,
    *,
    name: str,
    kind: str,
    config: dict[str, Any],
    events: list[str],
    verify: bool = True,
) -> NotificationChannel:
    """A new channel; with ``verify`` a test message must arrive first."""
    factory = _factory(catalog, kind)
    _check_events(events)
    stored = configs.to_json(configs.validate(factory, config))
    await _name_free(session, org_id, name, None)
    if verify:
        await _verify(catalog, factory, name, stored)
    channel = NotificationChannel(
        id=uuid.uuid4(),
        org_id=org_id,
        project_id=project_id,
        name=name,
        kind=kind,
        config=json.dumps(stored),
        events=sorted(set(events)),
        enabled=True,
        created_at=utcnow(),
        updated_at=utcnow(),
    )
    session.add(channel)
    await session.flush()
    await audit.record(
        session,
        actor,
        "notification_channel.create",
        "notification_channel",
        channel.id,
        org_id=org_id,
        details={"name": name, "kind": kind, "events": channel.events},
    )
    return channel


async def update_channel(
    session: AsyncSession,
    actor: Actor,
    catalog: NotifierCatalog,
    channel: NotificationChannel,
    *,
    name: str | None = None,
    config: dict[str, Any] | None = None,
    events: list[str] | None = None,
    enabled: bool | None = None,
    verify: bool = True,
) -> NotificationChannel:
    """Change a channel. ``config`` is merged into the stored settings (omit a secret to keep
    it); a changed address is verified like at creation."""
    factory = _factory(catalog, channel.kind)
    stored = json.loads(channel.config)
    if events is not None:
        _check_events(events)
    if name is not None:
        await _name_free(session, channel.org_id, name, channel.id)
    if config is not None:
        merged = configs.to_json(configs.validate(factory, {**stored, **config}))
        if verify and merged != stored:
            await _verify(catalog, factory, name or channel.name, merged)
        channel.config = json.dumps(merged)
    if name is not None:
        channel.name = name
    if events is not None:
        channel.events = sorted(set(events))
    if enabled is not None:
        channel.enabled = enabled
    channel.updated_at = utcnow()
    await session.flush()
    await audit.record(
        session,
        actor,
        "notification_channel.update",
        "notification_channel",
        channel.id,
        org_id=channel.org_id,
        details={"changed": sorted((config or {}).keys()), "events": channel.events},
    )
    return channel


async def get_channel(
    session: AsyncSession, org_id: uuid.UUID, channel_id: uuid.UUID
) -> NotificationChannel:
    """A channel of the organization, else NotFound."""
    channel = await session.scalar(
        select(NotificationChannel).where(
            NotificationChannel.id == channel_id, NotificationChannel.org_id == org_id
        )
    )
    if channel is None:
        raise NotFound("no such notification channel in this organization")
    return channel


async def list_channels(
    session: AsyncSession, org_id: uuid.UUID, project_id: uuid.UUID | None, page: PageRequest
) -> Page[NotificationChannel]:
    """The organization's channels (``project_id``: only that project's), oldest first."""
    query = select(NotificationChannel).where(NotificationChannel.org_id == org_id)
    if project_id is not None:
        query = query.where(NotificationChannel.project_id == project_id)
    return await fetch_page(
        session,
        query,
        [NotificationChannel.created_at, NotificationChannel.id],
        lambda c: (c.created_at, c.id),
        page,
    )


async def delete_channel(session: AsyncSession, actor: Actor, channel: NotificationChannel) -> None:
    """Delete a channel and its pending deliveries."""
    await session.delete(channel)
    await session.flush()
    await audit.record(
        session,
        actor,
        "notification_channel.delete",
        "notification_channel",
        channel.id,
        org_id=channel.org_id,
        details={"name": channel.name},
    )


@dataclass(frozen=True)
class TestResult:
    """How a test send went: the recorded delivery and its error, if any."""

    delivery: Delivery
    error: str | None


async def test_channel(
    session: AsyncSession, actor: Actor, catalog: NotifierCatalog, channel: NotificationChannel
) -> TestResult:
    """Send a test message now (one attempt, recorded like any delivery; not retried)."""
    event = await record_event(
        session,
        EventKind.CHANNEL_TEST,
        org_id=channel.org_id,
        project_id=channel.project_id,
        title=f"Test message for channel {channel.name}",
        message="If you can read this, Meshploy can reach this channel.",
        subject=("notification_channel", channel.id),
        only_channel=channel.id,
    )
    delivery = await session.scalar(select(Delivery).where(Delivery.event_id == event.id))
    assert delivery is not None
    await sending.attempt(
        session, catalog, delivery, event, channel, sending.Backoff(max_attempts=1)
    )
    await audit.record(
        session,
        actor,
        "notification_channel.test",
        "notification_channel",
        channel.id,
        org_id=channel.org_id,
        details={"delivered": delivery.status == "delivered"},
    )
    return TestResult(delivery, delivery.last_error)


async def list_deliveries(
    session: AsyncSession, channel: NotificationChannel, page: PageRequest
) -> Page[tuple[Delivery, Event, list[DeliveryAttempt]]]:
    """The channel's deliveries, newest first, each with its event and attempts."""
    query = (
        select(Delivery, Event)
        .join(Event, Event.id == Delivery.event_id)
        .where(Delivery.channel_id == channel.id)
    )
    rows = await fetch_page(
        session, query, [Delivery.id], lambda r: (r[0].id,), page, descending=True, scalars=False
    )
    ids = [d.id for d, _ in rows.items]
    attempts: dict[int, list[DeliveryAttempt]] = {i: [] for i in ids}
    if ids:
        for a in await session.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.delivery_id.in_(ids))
            .order_by(DeliveryAttempt.delivery_id, DeliveryAttempt.number)
        ):
            attempts[a.delivery_id].append(a)
    return Page(items=[(d, e, attempts[d.id]) for d, e in rows.items], next_key=rows.next_key)


async def list_events(
    session: AsyncSession, org_id: uuid.UUID, kind: str | None, page: PageRequest
) -> Page[Event]:
    """The organization's events, newest first (``kind`` filters)."""
    query = select(Event).where(Event.org_id == org_id)
    if kind is not None:
        query = query.where(Event.kind == kind)
    return await fetch_page(session, query, [Event.id], lambda e: (e.id,), page, descending=True)
