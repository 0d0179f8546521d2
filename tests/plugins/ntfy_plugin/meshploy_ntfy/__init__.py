"""An ntfy-style notifier: the message as a plain-text POST, the title in a header."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from meshploy_core.plugins import hookimpl
from meshploy_core.plugins.contracts import Notification, NotifierError


@dataclass(frozen=True)
class NtfyConfig:
    """Server URL with the topic, and an access token (secret: not in repr)."""

    url: str
    token: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError("ntfy url must be an http(s) URL")


class NtfyNotifier:
    """Publishes to one topic."""

    def __init__(self, config: NtfyConfig) -> None:
        self.config = config

    async def send(self, notification: Notification) -> None:
        headers = {"Title": notification.title, "Tags": notification.severity}
        if self.config.token:
            headers["Authorization"] = f"Bearer {self.config.token}"
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                response = await client.post(
                    self.config.url, content=notification.message.encode(), headers=headers
                )
        except httpx.HTTPError as exc:
            raise NotifierError(f"{type(exc).__name__} publishing to ntfy") from None
        if response.status_code >= 300:
            raise NotifierError(f"ntfy answered HTTP {response.status_code}")


@dataclass(frozen=True)
class NtfyFactory:
    kind: str = "ntfy"
    description: str = "ntfy topic"
    config_type: type[NtfyConfig] = NtfyConfig

    def create(self, config: NtfyConfig) -> NtfyNotifier:
        return NtfyNotifier(config)


@hookimpl
def register_notifiers(registry):  # type: ignore[no-untyped-def]
    registry.add("ntfy", NtfyFactory())
