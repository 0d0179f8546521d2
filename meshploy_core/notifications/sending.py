"""One delivery attempt: build the channel's notifier, send the event, record how it went.

Shared by the delivery worker (:mod:`meshploy_core.events.delivery`) and test sends.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from meshploy_core.db.base import utcnow
from meshploy_core.errors import PluginError
from meshploy_core.events.models import Delivery, DeliveryAttempt, Event
from meshploy_core.notifications import configs
from meshploy_core.notifications.models import NotificationChannel
from meshploy_core.plugins.catalogs import NotifierCatalog
from meshploy_core.plugins.contracts import Notification, NotifierError

#: How long one send may take before it counts as failed.
SEND_TIMEOUT = 30.0


def notification_of(event: Event) -> Notification:
    """What a notifier is given for ``event``."""
    details = event.details or {}
    return Notification(
        event=event.kind,
        title=event.title,
        message=event.message,
        severity=event.severity,
        org_id=str(event.org_id) if event.org_id else None,
        project=details.get("project"),
        service=details.get("service") or details.get("job"),
        url=details.get("url"),
        occurred_at=event.occurred_at,
    )


async def send(
    catalog: NotifierCatalog, channel: NotificationChannel, notification: Notification
) -> str | None:
    """Send once; None when delivered, else why not (no secret in it)."""
    stored = json.loads(channel.config)
    try:
        factory = catalog.get(channel.kind)
    except PluginError as exc:
        return str(exc)
    secrets = configs.secret_values(factory, stored)
    try:
        notifier = factory.create(configs.validate(factory, stored))
        await asyncio.wait_for(notifier.send(notification), SEND_TIMEOUT)
    except NotifierError as exc:
        return configs.scrub(str(exc), secrets)[:1000] or "the notifier failed"
    except TimeoutError:
        return f"no answer within {SEND_TIMEOUT:.0f} s"
    except Exception as exc:  # a broken plugin must not stop deliveries; its text may leak
        return f"the {channel.kind} notifier raised {type(exc).__name__}"
    return None


@dataclass(frozen=True)
class Backoff:
    """When to try again: ``base * 2 ** (attempt - 1)`` seconds, at most ``cap``; give up
    after ``max_attempts``."""

    base: float = 5.0
    cap: float = 600.0
    max_attempts: int = 8

    def delay(self, attempts: int) -> float:
        """Seconds to wait after ``attempts`` failed attempts."""
        return float(min(self.cap, self.base * 2 ** (attempts - 1)))


async def attempt(
    session: AsyncSession,
    catalog: NotifierCatalog,
    delivery: Delivery,
    event: Event,
    channel: NotificationChannel,
    backoff: Backoff,
) -> bool:
    """One attempt at ``delivery``; records it and the delivery's new state (not committed)."""
    started = utcnow()
    error = await send(catalog, channel, notification_of(event))
    finished = utcnow()
    delivery.attempts += 1
    session.add(
        DeliveryAttempt(
            delivery_id=delivery.id,
            number=delivery.attempts,
            ok=error is None,
            error=error,
            started_at=started,
            finished_at=finished,
        )
    )
    delivery.leased_until = None
    if error is None:
        delivery.status, delivery.delivered_at, delivery.last_error = "delivered", finished, None
    else:
        delivery.last_error = error
        if delivery.attempts >= backoff.max_attempts:
            delivery.status = "failed"
        else:
            delivery.next_attempt_at = finished + timedelta(
                seconds=backoff.delay(delivery.attempts)
            )
    await session.flush()
    return error is None
