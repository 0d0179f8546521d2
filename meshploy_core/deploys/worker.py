"""The ``meshploy worker`` process: elect a leader, then reconcile until told to stop; and,
in every worker, deliver events to notification channels.

Every worker connects to PostgreSQL and Kubernetes; only the one holding the advisory lock
reconciles. A deploy request (``NOTIFY meshploy_deploys``) wakes the leader at once;
otherwise it runs a pass every ``interval`` seconds. Deliveries need no leader (each is
leased by one worker at a time, :mod:`meshploy_core.events.delivery`); a recorded event
(``NOTIFY meshploy_events``) wakes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

import asyncpg

from meshploy_core.db.engine import create_engine, session_factory
from meshploy_core.deploys.deployments import DEPLOY_CHANNEL
from meshploy_core.deploys.leader import LeaderLock, asyncpg_dsn
from meshploy_core.deploys.reconciler import Reconciler, ReconcilerConfig
from meshploy_core.errors import ConfigError
from meshploy_core.events.delivery import DeliveryConfig, DeliveryWorker
from meshploy_core.events.record import EVENTS_CHANNEL
from meshploy_core.kube.adapter import KubeAdapter
from meshploy_core.plugins.context import Process, ProcessResources
from meshploy_core.plugins.manager import PluginManager
from meshploy_core.registries.logins import PullLogins
from meshploy_core.settings import Settings

log = logging.getLogger(__name__)


async def _wait(events: list[asyncio.Event], seconds: float) -> None:
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()


def _returning(kube: KubeAdapter) -> Callable[[], Awaitable[KubeAdapter]]:
    async def get() -> KubeAdapter:
        return kube

    return get


async def run_worker(
    settings: Settings,
    stop: asyncio.Event,
    *,
    interval: float = 1.0,
    config: ReconcilerConfig | None = None,
    on_leader: asyncio.Event | None = None,
    delivery: DeliveryConfig | None = None,
) -> None:
    """Run until ``stop`` is set; leadership is taken and kept through the advisory lock."""
    if not settings.kubeconfig:
        raise ConfigError(
            "KUBECONFIG is not set; point it at the cluster's kubeconfig (K3s: "
            "/etc/rancher/k3s/k3s.yaml), or run `meshploy dev`, which starts a local cluster"
        )
    url = settings.require_database_url()
    engine = create_engine(settings, pool_size=4)
    kube = await KubeAdapter.connect(settings.kubeconfig)
    lock = LeaderLock(url)
    wake = asyncio.Event()
    listener: asyncpg.Connection | None = None
    sessions = session_factory(engine)
    plugins = PluginManager.load(settings=settings, process=Process.WORKER)
    plugins.bind(ProcessResources(sessions=sessions, kube=_returning(kube)))
    logins = PullLogins.from_catalog(await plugins.image_registries())
    reconciler = Reconciler(
        sessions,
        kube,
        config or ReconcilerConfig(),
        logins,
        job_log_retention=timedelta(days=settings.job_log_retention_days),
    )
    deliveries = DeliveryWorker(sessions, await plugins.notifiers(), delivery or DeliveryConfig())
    event_wake = asyncio.Event()
    events_listener: asyncpg.Connection | None = None
    with contextlib.suppress(OSError, asyncpg.PostgresError):
        events_listener = await asyncpg.connect(asyncpg_dsn(url), timeout=10)
        await events_listener.add_listener(EVENTS_CHANNEL, lambda *_: event_wake.set())
    delivering = asyncio.create_task(deliveries.run(stop, event_wake, interval))
    try:
        while not stop.is_set():
            if not lock.held and not await lock.try_acquire():
                await _wait([stop], interval)
                continue
            if not await lock.still_held():
                continue
            if on_leader is not None:
                on_leader.set()
            if listener is None or listener.is_closed():
                with contextlib.suppress(OSError, asyncpg.PostgresError):
                    listener = await asyncpg.connect(asyncpg_dsn(url), timeout=10)
                    await listener.add_listener(DEPLOY_CHANNEL, lambda *_: wake.set())
            wake.clear()
            try:
                await reconciler.run_once()
            except Exception:
                log.exception("reconciler pass failed; retrying")
            await _wait([stop, wake], interval)
    finally:
        stop.set()
        await delivering
        if events_listener is not None and not events_listener.is_closed():
            await events_listener.close()
        await lock.release()
        if listener is not None and not listener.is_closed():
            await listener.close()
        await kube.close()
        await engine.dispose()
