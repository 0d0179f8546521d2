"""Following a deployment until it ends: its log lines as they come, and the outcome.

The deployment's log endpoint long-polls (``?after=&wait=``), so following costs one open
request at a time and shows each line as soon as the API has it; no sleeping client-side.
On a terminal a spinner (rich) shows the current status on stderr.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import click

from meshploy_core.client.errors import ClientError
from meshploy_core.client.http import ApiClient

LONG_POLL_SECONDS = 20
FINAL = ("healthy", "failed", "cancelled", "superseded")


class StillRunning(ClientError):
    """The deployment had not ended when the wait ran out."""


def log_line(line: dict[str, Any]) -> str:
    """A log line for people: time, source, level, message."""
    at = str(line.get("at", ""))[11:19]
    return f"{at}  {line.get('source', '')[:4]:<4}  {line.get('message', '')}"


def _spinner(enabled: bool) -> tuple[AbstractContextManager[Any], Callable[[str], None]]:
    if not enabled:
        return nullcontext(), lambda _text: None
    from rich.console import Console

    console = Console(stderr=True)
    status = console.status("waiting for the deployment", spinner="dots")
    return status, lambda text: status.update(text)


async def follow(
    client: ApiClient,
    org_id: str,
    deployment_id: str,
    *,
    show: Callable[[dict[str, Any]], None] | None,
    wait_seconds: float | None = None,
    follow_until_done: bool = True,
    progress: bool = False,
) -> dict[str, Any]:
    """Read the deployment's log from the start, passing each line to ``show``; with
    ``follow_until_done`` keep long-polling until it ends (or ``wait_seconds`` pass).
    Returns the deployment as it is at the end."""
    deadline = None if wait_seconds is None else time.monotonic() + wait_seconds
    after = 0
    spinner, update = _spinner(progress and sys.stderr.isatty())
    with spinner:
        while True:
            wait = LONG_POLL_SECONDS if follow_until_done else 0
            if deadline is not None:
                wait = max(0, min(wait, int(deadline - time.monotonic())))
            page = await client.deployment_logs(
                org_id=org_id, deployment_id=deployment_id, after=after, wait=wait
            )
            for line in page["items"]:
                if show is not None:
                    show(dict(line))
            after = page["next_after"]
            update(f"deployment {deployment_id[:8]}: {page['status']}")
            if page["done"] or (not follow_until_done and not page["items"]):
                break
            if deadline is not None and time.monotonic() >= deadline:
                raise StillRunning(
                    f"deployment {deployment_id} is still {page['status']} after "
                    f"{wait_seconds:.0f} s; follow it with: "
                    f"meshploy deployment logs {deployment_id} --follow"
                )
    return dict(await client.get_deployment(org_id=org_id, deployment_id=deployment_id))


def printer(as_json: bool, err: bool) -> Callable[[dict[str, Any]], None]:
    """A ``show`` callback: JSON lines or readable lines, on stdout or stderr."""

    def show(line: dict[str, Any]) -> None:
        click.echo(json.dumps(line) if as_json else log_line(line), err=err)

    return show


def outcome(deployment: dict[str, Any]) -> tuple[bool, str]:
    """Whether the deployment ended well, and a sentence saying how it ended."""
    ident, status = deployment["id"], deployment["status"]
    if status == "healthy":
        return True, f"deployment {ident} is healthy ({deployment['image']})"
    reason = deployment.get("reason") or "no reason given"
    if status == "failed":
        return False, f"deployment {ident} failed: {reason}"
    return False, f"deployment {ident} ended {status}: {reason}"
