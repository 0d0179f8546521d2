"""Discord notifications through a channel webhook (Execute Webhook).

The body has a short ``content`` line and one embed: the title (at most 256 characters),
the message as its description (at most 4096), a colour by severity, the event's time and
fields for the event kind, project and service. ``allowed_mentions`` is empty, so no text in
an event can ping anyone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from meshploy_core.plugins.contracts import Notification
from meshploy_notifiers.chat import SEVERITY_COLOUR, check_url, post_json

TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
CONTENT_LIMIT = 2000


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def payload(note: Notification, username: str | None) -> dict[str, object]:
    """The Execute Webhook body for ``note``."""
    fields = [{"name": "event", "value": note.event, "inline": True}]
    if note.project:
        fields.append({"name": "project", "value": note.project, "inline": True})
    if note.service:
        fields.append({"name": "service", "value": note.service, "inline": True})
    embed: dict[str, object] = {
        "title": _cut(note.title, TITLE_LIMIT),
        "color": SEVERITY_COLOUR.get(note.severity, SEVERITY_COLOUR["info"]),
        "timestamp": note.occurred_at.isoformat(),
        "fields": fields,
    }
    if note.message:
        embed["description"] = _cut(note.message, DESCRIPTION_LIMIT)
    if note.url:
        embed["url"] = note.url
    body: dict[str, object] = {
        "content": _cut(f"[{note.severity}] {note.title}", CONTENT_LIMIT),
        "embeds": [embed],
        "allowed_mentions": {"parse": []},
    }
    if username:
        body["username"] = username
    return body


@dataclass(frozen=True)
class DiscordConfig:
    """A Discord channel: its webhook URL (a secret: never shown again)."""

    url: str = field(repr=False)
    username: str | None = "Meshploy"
    timeout: float = 10.0

    def __post_init__(self) -> None:
        check_url(self.url, "discord")
        if self.username is not None and not 1 <= len(self.username) <= 80:
            raise ValueError("discord username must be 1-80 characters")
        if not 1 <= self.timeout <= 60:
            raise ValueError("discord timeout must be between 1 and 60 seconds")


class DiscordNotifier:
    """Posts notifications to one Discord webhook."""

    def __init__(self, config: DiscordConfig) -> None:
        self.config = config

    async def send(self, notification: Notification) -> None:
        """One POST; NotifierError when Discord does not accept it."""
        body = payload(notification, self.config.username)
        await post_json(self.config.url, body, self.config.timeout, "meshploy-discord/1")


@dataclass(frozen=True)
class DiscordFactory:
    """The ``discord`` notifier kind."""

    kind: str = "discord"
    description: str = "Discord channel through a webhook (an embed per event)"
    config_type: type[DiscordConfig] = DiscordConfig

    def create(self, config: DiscordConfig) -> DiscordNotifier:
        """A notifier posting to ``config.url``."""
        return DiscordNotifier(config)
