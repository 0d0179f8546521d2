"""Entry point of the built-in notifiers plugin (``meshploy`` group, name ``notifiers``)."""

from __future__ import annotations

from meshploy_core.plugins import hookimpl
from meshploy_core.plugins.catalogs import NotifierCatalog
from meshploy_notifiers.webhook import WebhookFactory


@hookimpl
def register_notifiers(registry: NotifierCatalog) -> None:
    """Register the signed webhook notifier."""
    registry.add("webhook", WebhookFactory())
