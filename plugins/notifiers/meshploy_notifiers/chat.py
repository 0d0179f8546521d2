"""Shared by the chat notifiers (Slack, Discord): one JSON POST to an incoming-webhook URL.

The URL of an incoming webhook *is* its secret (whoever has it can post), so it is a secret
field of every chat config (``repr=False``) and never appears in an error: errors name the
host only. Each ``send`` makes one attempt; Meshploy's delivery worker retries with backoff
and records every attempt.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import httpx

from meshploy_core.plugins.contracts import NotifierError

SEVERITY_EMOJI = {"info": ":information_source:", "warning": ":warning:", "error": ":red_circle:"}
#: Discord embed colours (0xRRGGBB) by severity.
SEVERITY_COLOUR = {"info": 0x2F80ED, "warning": 0xF2C94C, "error": 0xEB5757}


def check_url(url: str, what: str) -> None:
    """Refuse anything but an http(s) URL with a host (the message never echoes it)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{what} url must be an http(s) URL of an incoming webhook")


def host_of(url: str) -> str:
    """``https://hooks.slack.com``: where a delivery went, without the secret path."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


async def post_json(url: str, body: dict[str, Any], seconds: float, agent: str) -> None:
    """POST ``body``; NotifierError (naming the host only) unless the answer is 2xx."""
    data = json.dumps(body, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "User-Agent": agent}
    try:
        async with httpx.AsyncClient(timeout=seconds) as client:
            response = await client.post(url, content=data, headers=headers)
    except httpx.HTTPError as exc:
        raise NotifierError(f"{type(exc).__name__} contacting {host_of(url)}") from None
    if response.status_code >= 300:
        raise NotifierError(f"{host_of(url)} answered HTTP {response.status_code}")
