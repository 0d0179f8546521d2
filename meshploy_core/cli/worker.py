"""``meshploy worker``: the reconciler process."""

from __future__ import annotations

import asyncio
import signal

import click

from meshploy_core.cli.common import fail, settings_from_context
from meshploy_core.errors import MeshployError
from meshploy_core.logs import configure_logging


@click.command("worker")
@click.option(
    "--interval",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0.1, 60),
    help="Seconds between reconcile passes when nothing wakes the worker.",
)
@click.pass_context
def worker_cmd(ctx: click.Context, interval: float) -> None:
    """Converge Kubernetes to the desired state in PostgreSQL (several may run; one leads)."""
    from meshploy_core.deploys.worker import run_worker

    settings = settings_from_context(ctx)
    configure_logging(settings.log_level)

    async def go() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(settings, stop, interval=interval)

    try:
        asyncio.run(go())
    except MeshployError as exc:
        fail(str(exc))
