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
from contextlib import nullcontext
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


async def follow(
    client: ApiClient,
    org_id: str,
    deployment_id: str,
    *,
    render: Callable[[dict[str, Any]], str] | None,
    err: bool = False,
    wait_seconds: float | None = None,
    follow_until_done: bool = True,
    progress: bool = False,
) -> dict[str, Any]:
    """Read the deployment's log from the start, printing each line as ``render`` makes it
    (to stderr with ``err``); with ``follow_until_done`` keep long-polling until it ends (or
    ``wait_seconds`` pass). With ``progress`` and a terminal on stderr, a spinner shows the
    status. Returns the deployment as it is at the end."""
    deadline = None if wait_seconds is None else time.monotonic() + wait_seconds
    console = None
    if progress and sys.stderr.isatty():
        from rich.console import Console

        console = Console(stderr=True)
    status = console.status("waiting for the deployment") if console else None

    def emit(line: dict[str, Any]) -> None:
        if render is None:
            return
        text = render(line)
        if console is not None and err:  # above the spinner, not through it
            console.print(text, markup=False, highlight=False, soft_wrap=True)
        else:
            click.echo(text, err=err)

    after = 0
    with status if status is not None else nullcontext():
        while True:
            wait = LONG_POLL_SECONDS if follow_until_done else 0
            if deadline is not None:
                wait = max(0, min(wait, int(deadline - time.monotonic())))
            page = await client.deployment_logs(
                org_id=org_id, deployment_id=deployment_id, after=after, wait=wait
            )
            for line in page["items"]:
                emit(dict(line))
            after = page["next_after"]
            if status is not None:
                status.update(f"deployment {deployment_id[:8]}: {page['status']}")
            if page["done"] or (not follow_until_done and not page["items"]):
                break
            if deadline is not None and time.monotonic() >= deadline:
                raise StillRunning(
                    f"deployment {deployment_id} is still {page['status']} after "
                    f"{wait_seconds:.0f} s; follow it with: "
                    f"meshploy deployment logs {deployment_id} --follow"
                )
    return dict(await client.get_deployment(org_id=org_id, deployment_id=deployment_id))


def json_line(line: dict[str, Any]) -> str:
    """A log line as one line of JSON."""
    return json.dumps(line)


def outcome(deployment: dict[str, Any]) -> tuple[bool, str]:
    """Whether the deployment ended well, and a sentence saying how it ended."""
    ident, status = deployment["id"], deployment["status"]
    if status == "healthy":
        return True, f"deployment {ident} is healthy ({deployment['image']})"
    reason = deployment.get("reason") or "no reason given"
    if status == "failed":
        return False, f"deployment {ident} failed: {reason}"
    return False, f"deployment {ident} ended {status}: {reason}"
