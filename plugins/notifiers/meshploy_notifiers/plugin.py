"""Entry point of the built-in notifiers plugin (``meshploy`` group, name ``notifiers``)."""

from __future__ import annotations

from meshploy_core.plugins import hookimpl
from meshploy_core.plugins.catalogs import NotifierCatalog
from meshploy_notifiers.discord import DiscordFactory
from meshploy_notifiers.email import EmailFactory
from meshploy_notifiers.slack import SlackFactory
from meshploy_notifiers.webhook import WebhookFactory


@hookimpl
def register_notifiers(registry: NotifierCatalog) -> None:
    """Register Slack, Discord, email and the signed webhook."""
    registry.add("discord", DiscordFactory())
    registry.add("email", EmailFactory())
    registry.add("slack", SlackFactory())
    registry.add("webhook", WebhookFactory())
