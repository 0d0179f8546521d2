"""``/api/v1/orgs/{org_id}/notification-channels`` and ``/events``: where events go, each
delivery and its attempts, and the event stream itself."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field
from quart import Blueprint, current_app
from quart_schema import validate_querystring, validate_request, validate_response

from meshploy_core.app.state import state
from meshploy_core.authorization.policy import requires
from meshploy_core.errors import PluginError
from meshploy_core.events.kinds import EventKind
from meshploy_core.events.models import Delivery, DeliveryAttempt, Event
from meshploy_core.notifications import channels, configs
from meshploy_core.notifications.models import NotificationChannel
from meshploy_core.plugins.catalogs import NotifierCatalog
from meshploy_core.projects import projects
from meshploy_core.web.context import actor, db
from meshploy_core.web.fields import Input, Name
from meshploy_core.web.openapi import destructive, no_content, problems
from meshploy_core.web.pagination import Page, PageQuery, page_of, page_request

bp = Blueprint("notifications", __name__, url_prefix="/api/v1/orgs/<uuid:org_id>")

Kind = Field(min_length=1, max_length=63, pattern=r"^[a-z][a-z0-9_-]*$")
SUBSCRIBABLE = [k.value for k in EventKind if k is not EventKind.CHANNEL_TEST]


def _known_kind(value: str) -> str:
    if value not in SUBSCRIBABLE:
        raise ValueError(f"must be one of: {', '.join(SUBSCRIBABLE)}")
    return value


EventKindName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[a-z_]+\.[a-z_]+$",
        description="An event kind: " + ", ".join(SUBSCRIBABLE) + ".",
    ),
    AfterValidator(_known_kind),
]


async def _catalog() -> NotifierCatalog:
    return await state(current_app).plugins.notifiers()


class ChannelIn(Input):
    """A new channel. ``config`` is the notifier kind's settings: ``slack``/``discord``:
    ``{"url": <incoming webhook URL>}``; ``webhook``: ``{"url", "secret"}``; ``email``:
    ``{"host", "port", "sender", "to": [...], "username", "password"}``. Secret settings
    (webhook URLs, secrets, passwords) are stored encrypted and never shown again."""

    name: Name
    kind: str = Kind
    config: dict[str, Any] = Field(description="The notifier's settings.")
    events: list[EventKindName] = Field(
        default_factory=list, max_length=50, description="Event kinds to deliver; [] = all."
    )
    project_id: uuid.UUID | None = Field(
        None, strict=False, description="Only this project's events (default: the whole org)."
    )
    verify: bool = Field(True, description="Send a test message first; refuse if it fails.")


class ChannelPatch(Input):
    """Changes; ``config`` is merged into the stored settings (leave a secret out to keep
    it). A changed address is verified with a test message unless ``verify`` is false."""

    name: Name | None = None
    config: dict[str, Any] | None = None
    events: list[EventKindName] | None = Field(None, max_length=50)
    enabled: bool | None = None
    verify: bool = True


class ChannelOut(BaseModel):
    """A channel; secret settings show as ``********``."""

    id: uuid.UUID
    org_id: uuid.UUID
    project_id: uuid.UUID | None
    name: str
    kind: str
    config: dict[str, Any]
    events: list[str]
    enabled: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, channel: NotificationChannel, catalog: NotifierCatalog) -> ChannelOut:
        try:
            factory = catalog.get(channel.kind)
        except PluginError:
            factory = None
        return cls(
            id=channel.id,
            org_id=channel.org_id,
            project_id=channel.project_id,
            name=channel.name,
            kind=channel.kind,
            config=configs.public(factory, json.loads(channel.config)),
            events=list(channel.events),
            enabled=channel.enabled,
            created_at=channel.created_at,
            updated_at=channel.updated_at,
        )


class AttemptOut(BaseModel):
    """One try at a delivery."""

    number: int
    ok: bool
    error: str | None
    started_at: datetime
    finished_at: datetime

    @classmethod
    def of(cls, a: DeliveryAttempt) -> AttemptOut:
        return cls(
            number=a.number,
            ok=a.ok,
            error=a.error,
            started_at=a.started_at,
            finished_at=a.finished_at,
        )


class DeliveryOut(BaseModel):
    """One event to one channel: its state, its attempts, when it is tried next."""

    id: int
    event_id: int
    event_kind: str
    event_title: str
    status: Literal["pending", "delivered", "failed"]
    attempts: list[AttemptOut]
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    last_error: str | None

    @classmethod
    def of(cls, d: Delivery, e: Event, attempts: list[DeliveryAttempt]) -> DeliveryOut:
        return cls(
            id=d.id,
            event_id=e.id,
            event_kind=e.kind,
            event_title=e.title,
            status=d.status,
            attempts=[AttemptOut.of(a) for a in attempts],
            next_attempt_at=d.next_attempt_at if d.status == "pending" else None,
            delivered_at=d.delivered_at,
            last_error=d.last_error,
        )


class TestOut(BaseModel):
    """How the test message went."""

    delivered: bool
    error: str | None
    delivery_id: int


class ChannelQuery(PageQuery):
    """Filters."""

    project_id: uuid.UUID | None = Field(None, description="Only this project's channels.")


@bp.get("/notification-channels")
@requires("notification:read")
@validate_querystring(ChannelQuery)
@validate_response(Page[ChannelOut])
async def list_notification_channels(
    org_id: uuid.UUID, query_args: ChannelQuery
) -> Page[ChannelOut]:
    """The organization's notification channels (secret settings masked)."""
    catalog = await _catalog()
    result = await channels.list_channels(
        db(), org_id, query_args.project_id, page_request(query_args)
    )
    return page_of(result, lambda c: ChannelOut.of(c, catalog))


@bp.post("/notification-channels")
@requires("notification:write")
@problems(409)
@validate_request(ChannelIn)
@validate_response(ChannelOut, 201)
async def create_notification_channel(org_id: uuid.UUID, data: ChannelIn) -> tuple[ChannelOut, int]:
    """Add a channel (Slack, Discord, email, signed webhook, or an installed plugin's kind)
    for the organization or one project; a test message must arrive unless ``verify`` is
    false."""
    session = db()
    catalog = await _catalog()
    if data.project_id is not None:
        await projects.get_project(session, org_id, data.project_id)
    channel = await channels.create_channel(
        session,
        actor(),
        catalog,
        org_id,
        data.project_id,
        name=data.name,
        kind=data.kind,
        config=dict(data.config),
        events=list(data.events),
        verify=data.verify,
    )
    await session.commit()
    return ChannelOut.of(channel, catalog), 201


@bp.get("/notification-channels/<uuid:channel_id>")
@requires("notification:read")
@validate_response(ChannelOut)
async def get_notification_channel(org_id: uuid.UUID, channel_id: uuid.UUID) -> ChannelOut:
    """One channel (secret settings masked)."""
    channel = await channels.get_channel(db(), org_id, channel_id)
    return ChannelOut.of(channel, await _catalog())


@bp.patch("/notification-channels/<uuid:channel_id>")
@requires("notification:write")
@destructive
@problems(409)
@validate_request(ChannelPatch)
@validate_response(ChannelOut)
async def update_notification_channel(
    org_id: uuid.UUID, channel_id: uuid.UUID, data: ChannelPatch
) -> ChannelOut:
    """Change a channel's name, settings, subscribed events or whether it is enabled.
    DESTRUCTIVE: replaces settings whose old values cannot be read back."""
    session = db()
    catalog = await _catalog()
    channel = await channels.get_channel(session, org_id, channel_id)
    await channels.update_channel(
        session,
        actor(),
        catalog,
        channel,
        name=data.name,
        config=dict(data.config) if data.config is not None else None,
        events=list(data.events) if data.events is not None else None,
        enabled=data.enabled,
        verify=data.verify,
    )
    await session.commit()
    return ChannelOut.of(channel, catalog)


@bp.delete("/notification-channels/<uuid:channel_id>")
@requires("notification:write")
@no_content
async def delete_notification_channel(org_id: uuid.UUID, channel_id: uuid.UUID) -> tuple[str, int]:
    """Delete a channel and its pending deliveries. DESTRUCTIVE."""
    session = db()
    channel = await channels.get_channel(session, org_id, channel_id)
    await channels.delete_channel(session, actor(), channel)
    await session.commit()
    return "", 204


@bp.post("/notification-channels/<uuid:channel_id>/test")
@requires("notification:write")
@validate_response(TestOut)
async def test_notification_channel(org_id: uuid.UUID, channel_id: uuid.UUID) -> TestOut:
    """Send a test message now (one attempt, recorded among the channel's deliveries)."""
    session = db()
    channel = await channels.get_channel(session, org_id, channel_id)
    result = await channels.test_channel(session, actor(), await _catalog(), channel)
    await session.commit()
    return TestOut(
        delivered=result.error is None, error=result.error, delivery_id=result.delivery.id
    )


class DeliveryQuery(PageQuery):
    """Page through a channel's deliveries, newest first."""


@bp.get("/notification-channels/<uuid:channel_id>/deliveries")
@requires("notification:read")
@validate_querystring(DeliveryQuery)
@validate_response(Page[DeliveryOut])
async def notification_deliveries(
    org_id: uuid.UUID, channel_id: uuid.UUID, query_args: DeliveryQuery
) -> Page[DeliveryOut]:
    """The channel's deliveries, newest first, each with every attempt and its error."""
    channel = await channels.get_channel(db(), org_id, channel_id)
    result = await channels.list_deliveries(db(), channel, page_request(query_args))
    return page_of(result, lambda row: DeliveryOut.of(*row))


class EventOut(BaseModel):
    """Something that happened."""

    id: int
    kind: str
    severity: str
    title: str
    message: str
    project_id: uuid.UUID | None
    subject_type: str | None
    subject_id: str | None
    details: dict[str, Any]
    occurred_at: datetime

    @classmethod
    def of(cls, e: Event) -> EventOut:
        return cls(
            id=e.id,
            kind=e.kind,
            severity=e.severity,
            title=e.title,
            message=e.message,
            project_id=e.project_id,
            subject_type=e.subject_type,
            subject_id=e.subject_id,
            details=dict(e.details or {}),
            occurred_at=e.occurred_at,
        )


class EventQuery(PageQuery):
    """Filters."""

    kind: str | None = Field(None, max_length=64, description="Only events of this kind.")


@bp.get("/events")
@requires("event:read")
@validate_querystring(EventQuery)
@validate_response(Page[EventOut])
async def list_events(org_id: uuid.UUID, query_args: EventQuery) -> Page[EventOut]:
    """The organization's event stream, newest first (deployments, job runs, nodes, ...)."""
    result = await channels.list_events(db(), org_id, query_args.kind, page_request(query_args))
    return page_of(result, EventOut.of)
