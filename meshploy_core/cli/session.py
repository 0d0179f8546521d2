"""Running API commands: the connection, the client, and one-line errors.

Every API command goes through :func:`run`: it builds an :class:`ApiClient` for the resolved
connection, runs the command's coroutine, and turns a client error into ``error: ...`` on
stderr and exit status 1 (usage errors stay click's, exit 2).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from meshploy_core.cli.common import fail
from meshploy_core.client import credentials
from meshploy_core.client.errors import ApiError, ClientError

if TYPE_CHECKING:
    from meshploy_core.client.http import ApiClient

T = TypeVar("T")
RELOGIN_HINT = "log in again with `meshploy auth login`, or set MESHPLOY_TOKEN"


def describe(error: ClientError) -> str:
    """The one line to print for ``error``."""
    if isinstance(error, ApiError):
        text = error.one_line()
        if error.status == 401 and error.slug == "unauthenticated":
            text += f"; {RELOGIN_HINT}"
        return text
    return str(error)


def connection(api_url: str | None = None) -> credentials.Connection:
    """The connection for this invocation (flags, then environment, then stored login)."""
    try:
        return credentials.resolve(api_url=api_url)
    except ClientError as exc:
        fail(describe(exc))


def run(
    conn: credentials.Connection,
    work: Callable[[ApiClient], Awaitable[T]],
    *,
    token: bool = True,
) -> T:
    """Run ``work`` with a client for ``conn``; client errors end the command (exit 1)."""
    from meshploy_core.client.http import ApiClient

    async def go() -> T:
        conn.require(token=token)
        assert conn.api_url is not None
        async with ApiClient(conn.api_url, conn.token, org_id=conn.org_id) as client:
            return await work(client)

    try:
        return asyncio.run(go())
    except ClientError as exc:
        fail(describe(exc))
