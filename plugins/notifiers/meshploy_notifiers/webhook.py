"""The signed webhook notifier: an HTTP POST a receiver can authenticate.

Each delivery carries::

    X-Meshploy-Timestamp: <unix seconds>
    X-Meshploy-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>

A receiver recomputes the HMAC over the raw body and rejects stale timestamps (replays).
With ``max_attempts`` above 1, connection errors, timeouts, 429 and 5xx answers are retried
with exponential backoff; other 4xx answers are final. The default is one attempt per send:
Meshploy's delivery worker retries channels itself, with backoff, and records each attempt.
The secret never appears in errors or logs.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from meshploy_core.plugins.contracts import Notification, NotifierError

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Meshploy-Signature"
TIMESTAMP_HEADER = "X-Meshploy-Timestamp"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify(secret: str, timestamp: str, body: bytes, signature: str, tolerance: int = 300) -> bool:
    """Check a delivery as a receiver would (signature and freshness)."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs(time.time() - ts) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, ts, body), signature)


@dataclass(frozen=True)
class WebhookConfig:
    """A webhook channel: where to POST and the shared signing secret."""

    url: str
    secret: str = field(repr=False)
    max_attempts: int = 1
    initial_backoff: float = 0.5
    timeout: float = 10.0

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"webhook url must be an http(s) URL; got {self.url!r}")
        if len(self.secret) < 16:
            raise ValueError("webhook secret must be at least 16 characters")
        if not 1 <= self.max_attempts <= 10:
            raise ValueError("webhook max_attempts must be between 1 and 10")


class WebhookNotifier:
    """Delivers notifications as signed JSON POSTs with retries."""

    def __init__(self, config: WebhookConfig, client: httpx.AsyncClient | None = None) -> None:
        self.config = config
        self._client = client

    async def send(self, notification: Notification) -> None:
        """POST ``notification``; retry transient failures; raise NotifierError at the end."""
        body = json.dumps(notification.to_json(), separators=(",", ":")).encode()
        cfg = self.config
        target = urlsplit(cfg.url)._replace(query="", fragment="").geturl()
        last = "no attempt made"
        client = self._client or httpx.AsyncClient(timeout=cfg.timeout)
        try:
            for attempt in range(1, cfg.max_attempts + 1):
                ts = int(time.time())
                headers = {
                    "Content-Type": "application/json",
                    "User-Agent": "meshploy-webhook/1",
                    TIMESTAMP_HEADER: str(ts),
                    SIGNATURE_HEADER: sign(cfg.secret, ts, body),
                }
                try:
                    response = await client.post(cfg.url, content=body, headers=headers)
                except httpx.HTTPError as exc:
                    last = f"{type(exc).__name__} contacting {target}"
                else:
                    if response.status_code < 300:
                        return
                    last = f"{target} answered HTTP {response.status_code}"
                    if response.status_code < 500 and response.status_code != 429:
                        break
                if attempt < cfg.max_attempts:
                    delay = cfg.initial_backoff * 2 ** (attempt - 1)
                    log.warning(
                        "webhook delivery attempt %d failed (%s); retrying in %.1fs",
                        attempt,
                        last,
                        delay,
                    )
                    await asyncio.sleep(delay)
        finally:
            if self._client is None:
                await client.aclose()
        raise NotifierError(f"webhook delivery failed: {last}")


@dataclass(frozen=True)
class WebhookFactory:
    """The ``webhook`` notifier kind."""

    kind: str = "webhook"
    description: str = "HTTP POST of a JSON body signed with HMAC-SHA256"
    config_type: type[WebhookConfig] = WebhookConfig

    def create(self, config: WebhookConfig) -> WebhookNotifier:
        """A notifier delivering to ``config.url``."""
        return WebhookNotifier(config)
