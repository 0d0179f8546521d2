"""Serve a Quart app with Hypercorn until SIGINT/SIGTERM, then drain gracefully."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable

from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart


def hypercorn_config(host: str, port: int, graceful_timeout: float = 10.0) -> Config:
    """A Hypercorn config bound to ``host:port`` with our access logging off (we log JSON)."""
    config = Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = "-"
    config.graceful_timeout = graceful_timeout
    config.include_server_header = False
    return config


async def serve_until_signalled(
    app: Quart,
    host: str,
    port: int,
    on_ready: Callable[[], Awaitable[None] | None] | None = None,
) -> None:
    """Serve ``app``; the first SIGINT/SIGTERM stops accepting and lets requests finish."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if on_ready is not None:

        @app.before_serving
        async def _ready() -> None:
            result = on_ready()
            if result is not None:
                await result

    await serve(app, hypercorn_config(host, port), shutdown_trigger=stop.wait)
