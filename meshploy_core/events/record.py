"""Recording an event and fanning it out to the channels that subscribe to it."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from meshploy_core.db.base import utcnow
from meshploy_core.events.kinds import SEVERITIES, SEVERITY, EventKind
from meshploy_core.events.models import Delivery, Event
from meshploy_core.notifications.models import NotificationChannel

#: Wakes the delivery worker at commit instead of at its next poll.
EVENTS_CHANNEL = "meshploy_events"


async def record_event(
    session: AsyncSession,
    kind: EventKind | str,
    *,
    org_id: uuid.UUID | None,
    title: str,
    message: str = "",
    project_id: uuid.UUID | None = None,
    severity: str | None = None,
    subject: tuple[str, uuid.UUID | str] | None = None,
    details: dict[str, Any] | None = None,
    only_channel: uuid.UUID | None = None,
) -> Event:
    """Record that ``kind`` happened, and queue a delivery to every channel that wants it.

    The event row and its deliveries are added to ``session`` (the caller commits, so they
    land with the change that caused them, or not at all); nothing is sent here. Channels
    of the organization get it, project channels only for events of their project, and only
    channels subscribed to ``kind`` (or to every kind). ``details`` is a small JSON object
    shown to people and given to notifiers (never secrets); ``project`` and ``service``
    names in it become the notification's fields. ``only_channel`` delivers to that one
    channel (test sends).
    """
    kind = EventKind(kind)
    level = severity or SEVERITY.get(kind, "info")
    if level not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}; got {level!r}")
    event = Event(
        kind=kind.value,
        org_id=org_id,
        project_id=project_id,
        severity=level,
        title=title[:500],
        message=message[:4000],
        subject_type=subject[0] if subject else None,
        subject_id=str(subject[1]) if subject else None,
        details=details or {},
        occurred_at=utcnow(),
    )
    session.add(event)
    await session.flush()
    channels: list[uuid.UUID] = []
    if only_channel is not None:
        channels = [only_channel]
    elif org_id is not None:
        query = select(NotificationChannel.id, NotificationChannel.events).where(
            NotificationChannel.org_id == org_id,
            NotificationChannel.enabled.is_(True),
            or_(
                NotificationChannel.project_id.is_(None),
                NotificationChannel.project_id == project_id,
            ),
        )
        for channel_id, kinds in (await session.execute(query)).all():
            if not kinds or kind.value in kinds:
                channels.append(channel_id)
    now = utcnow()
    for channel_id in channels:
        session.add(
            Delivery(event_id=event.id, channel_id=channel_id, next_attempt_at=now, created_at=now)
        )
    if channels:
        await session.flush()
        await session.execute(text(f"NOTIFY {EVENTS_CHANNEL}"))
    return event
