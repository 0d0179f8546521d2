"""Slack notifications through an incoming webhook.

The message is Block Kit: a header with the title, a section with the message in ``mrkdwn``
(``&``, ``<`` and ``>`` escaped, as Slack asks, so event text can never ping a channel), and
a context line (severity, project, service, time); ``text`` carries the same as the
plain-text fallback Slack shows in notifications.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from meshploy_core.plugins.contracts import Notification
from meshploy_notifiers.chat import SEVERITY_EMOJI, check_url, post_json

HEADER_LIMIT = 150  # Slack's limit for a header block's text
SECTION_LIMIT = 3000  # and for a section's text


def escape(text: str) -> str:
    """Slack's three control characters, escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def payload(note: Notification) -> dict[str, object]:
    """The incoming-webhook body for ``note``."""
    emoji = SEVERITY_EMOJI.get(note.severity, SEVERITY_EMOJI["info"])
    context = [f"{emoji} {note.severity}", f"`{note.event}`"]
    if note.project:
        context.append(f"project *{escape(note.project)}*")
    if note.service:
        context.append(f"*{escape(note.service)}*")
    context.append(note.occurred_at.strftime("%Y-%m-%d %H:%M:%S UTC"))
    blocks: list[dict[str, object]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(note.title, HEADER_LIMIT)}},
    ]
    if note.message:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": _cut(escape(note.message), SECTION_LIMIT)},
            }
        )
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)}]}
    )
    fallback = escape(note.title) + (f": {escape(note.message)}" if note.message else "")
    return {"text": _cut(fallback, SECTION_LIMIT), "blocks": blocks}


@dataclass(frozen=True)
class SlackConfig:
    """A Slack channel: its incoming-webhook URL (a secret: never shown again)."""

    url: str = field(repr=False)
    timeout: float = 10.0

    def __post_init__(self) -> None:
        check_url(self.url, "slack")
        if not 1 <= self.timeout <= 60:
            raise ValueError("slack timeout must be between 1 and 60 seconds")


class SlackNotifier:
    """Posts notifications to one Slack incoming webhook."""

    def __init__(self, config: SlackConfig) -> None:
        self.config = config

    async def send(self, notification: Notification) -> None:
        """One POST; NotifierError when Slack does not accept it."""
        await post_json(
            self.config.url, payload(notification), self.config.timeout, "meshploy-slack/1"
        )


@dataclass(frozen=True)
class SlackFactory:
    """The ``slack`` notifier kind."""

    kind: str = "slack"
    description: str = "Slack channel through an incoming webhook (Block Kit message)"
    config_type: type[SlackConfig] = SlackConfig

    def create(self, config: SlackConfig) -> SlackNotifier:
        """A notifier posting to ``config.url``."""
        return SlackNotifier(config)
