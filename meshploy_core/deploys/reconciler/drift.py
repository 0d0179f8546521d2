"""Drift repair: every ``drift_interval`` seconds, compare what runs with the current
deployment of each idle service and re-apply where someone changed or deleted it."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from meshploy_core.deploys.deployments import add_event
from meshploy_core.deploys.models import Deployment
from meshploy_core.deploys.reconciler import targets
from meshploy_core.deploys.reconciler.applier import Applier
from meshploy_core.deploys.reconciler.config import ReconcilerConfig
from meshploy_core.deploys.reconciler.targets import Target
from meshploy_core.kube import state
from meshploy_core.kube.adapter import KubeAdapter
from meshploy_core.kube.spec import WorkloadSpec

log = logging.getLogger(__name__)


def drift_problem(
    live: state.Obj | None, service_exists: bool, spec: WorkloadSpec, deployment_id: str
) -> str | None:
    """How the live Deployment differs from what should run, in words; None if it does not.

    ``service_exists``: whether the Kubernetes Service is there.
    """
    if live is None:
        return "the Deployment was deleted"
    if state.replicas(live) != spec.replicas:
        return f"replicas changed to {state.replicas(live)}"
    if state.template_deployment_id(live) != deployment_id:
        return "the pod template was replaced"
    images = state.template_images(live)
    if images != [spec.image]:
        return f"image changed to {', '.join(images)}"
    if not service_exists:
        return "the Service was deleted"
    return None


@dataclass
class DriftRepair:
    """Re-applies current deployments the cluster no longer matches."""

    sessions: async_sessionmaker[AsyncSession]
    kube: KubeAdapter
    applier: Applier
    config: ReconcilerConfig
    _last_check: float = 0.0

    async def repair(self) -> None:
        """Check (at most every ``drift_interval`` seconds) and re-apply what drifted."""
        now = time.monotonic()
        if now - self._last_check < self.config.drift_interval:
            return
        self._last_check = now
        async with self.sessions() as session:
            current = await targets.current(session)
            busy = set(
                (
                    await session.scalars(
                        select(Deployment.service_id).where(Deployment.status == "deploying")
                    )
                ).all()
            )
        for target in current:
            if target.service.id in busy:
                continue
            problem = await self._problem(target)
            if problem is None:
                continue
            async with self.sessions() as session:
                await add_event(
                    session, target.id, f"drift detected ({problem}); re-applying", level="warning"
                )
                await session.commit()
            failed = await self.applier.apply(target)
            if failed is not None:
                log.warning("re-applying deployment %s failed: %s", target.id, failed)

    async def _problem(self, target: Target) -> str | None:
        spec = target.spec
        live = await self.kube.get("apps/v1", "Deployment", spec.service, spec.namespace)
        service = None
        if live is not None:
            service = await self.kube.get("v1", "Service", spec.service, spec.namespace)
        return drift_problem(live, service is not None, spec, str(target.id))
