"""Converge the cluster to the desired state in PostgreSQL.

The reconciler is four parts, each owning one concern, run in order by
:meth:`Reconciler.run_once`:

* :class:`~.cleanup.GarbageCollector`: objects of deleted services and projects;
* :class:`~.rollouts.Rollouts`: start, judge, end and revert deployments;
* :class:`~.routes.RouteSync`: routes follow the nodes that run ready pods;
* :class:`~.drift.DriftRepair`: re-apply what someone changed under us;
* :class:`~.jobs.JobSync`: cron jobs' CronJobs applied, manual runs started, runs recorded.

A pass is idempotent and keeps no state that matters across restarts: a deployment marked
``deploying`` is re-applied (server-side apply of the same objects is a no-op) and judged
again from what Kubernetes reports, so a worker killed at any point and restarted finishes
or cleanly fails what was in flight. The caller makes sure only the leader runs passes
(:mod:`meshploy_core.deploys.leader`). Reading Kubernetes objects is left to the pure
functions of :mod:`meshploy_core.kube.state` and :mod:`meshploy_core.kube.rollout`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from meshploy_core.deploys.reconciler.applier import Applier
from meshploy_core.deploys.reconciler.cleanup import GarbageCollector
from meshploy_core.deploys.reconciler.config import ReconcilerConfig
from meshploy_core.deploys.reconciler.drift import DriftRepair
from meshploy_core.deploys.reconciler.jobs import JobSync
from meshploy_core.deploys.reconciler.rollouts import Rollouts
from meshploy_core.deploys.reconciler.routes import RouteSync
from meshploy_core.kube.adapter import KubeAdapter, KubeError
from meshploy_core.registries.logins import PullLogins

log = logging.getLogger(__name__)

__all__ = ["Reconciler", "ReconcilerConfig"]


class Reconciler:
    """Applies deployments, judges rollouts, keeps routes current, repairs drift."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        kube: KubeAdapter,
        config: ReconcilerConfig | None = None,
        logins: PullLogins | None = None,
        job_log_retention: timedelta = timedelta(days=7),
    ) -> None:
        config = config or ReconcilerConfig()
        logins = logins or PullLogins()
        applier = Applier(kube, logins)
        self.garbage = GarbageCollector(sessions, kube)
        self.rollouts = Rollouts(sessions, kube, applier, config)
        self.routes = RouteSync(sessions, kube)
        self.drift = DriftRepair(sessions, kube, applier, config)
        self.jobs = JobSync(
            sessions, kube, logins, log_retention=job_log_retention, interval=config.drift_interval
        )

    def parts(self) -> list[tuple[str, Callable[[], Awaitable[None]]]]:
        """The parts of a pass, in order."""
        return [
            ("garbage collection", self.garbage.collect),
            ("deployments", self.rollouts.advance),
            ("routes", self.routes.sync),
            ("drift", self.drift.repair),
            ("jobs", self.jobs.sync),
        ]

    async def run_once(self) -> None:
        """One full pass; each part is isolated so one failure does not stall the rest."""
        for name, part in self.parts():
            try:
                await part()
            except KubeError as exc:
                log.warning("reconciler %s: %s", name, exc)
