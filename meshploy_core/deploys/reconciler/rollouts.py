"""Deployments through their life: start the newest queued one of each idle service, judge
running ones from what Kubernetes reports, and revert a failed or cancelled one to the last
healthy deployment.

Nothing here survives a restart on purpose: a deployment marked ``deploying`` is applied
again on first sight (a no-op when nothing changed) and judged afresh.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from meshploy_core.db.base import utcnow
from meshploy_core.deploys.deployments import add_event
from meshploy_core.deploys.models import Deployment
from meshploy_core.deploys.reconciler import targets
from meshploy_core.deploys.reconciler.applier import Applier
from meshploy_core.deploys.reconciler.config import ReconcilerConfig
from meshploy_core.deploys.reconciler.targets import Target
from meshploy_core.events import EventKind, record_event
from meshploy_core.kube import state
from meshploy_core.kube.adapter import KubeAdapter
from meshploy_core.kube.rollout import Phase, evaluate
from meshploy_core.kube.spec import LABEL_SERVICE

log = logging.getLogger(__name__)


async def _event(
    session: AsyncSession, target: Target, kind: EventKind, title: str, message: str = ""
) -> None:
    """Record a deployment event (delivered to channels later, by the delivery worker)."""
    await record_event(
        session,
        kind,
        org_id=target.org.id,
        project_id=target.project.id,
        title=title,
        message=message,
        subject=("deployment", target.id),
        details={
            "project": target.project.slug,
            "service": target.service.name,
            "image": target.spec.image,
            "deployment_id": str(target.id),
        },
    )


@dataclass
class Rollouts:
    """Starts, judges, ends and reverts deployments."""

    sessions: async_sessionmaker[AsyncSession]
    kube: KubeAdapter
    applier: Applier
    config: ReconcilerConfig
    #: Deployments applied by this process since it started (others are applied on sight).
    _applied: set[uuid.UUID] = field(default_factory=set)

    async def advance(self) -> None:
        """Judge running deployments, then start the newest queued one of each idle service."""
        async with self.sessions() as session:
            running = await targets.with_status(session, "deploying")
        busy = {t.service.id for t in running}
        for target in running:
            await self._progress(target)
        async with self.sessions() as session:
            queued = await targets.with_status(session, "queued")
        newest: dict[uuid.UUID, Target] = {}
        for target in queued:
            if target.service.id not in busy:
                newest[target.service.id] = target  # ordered by created_at: last one wins
        for target in newest.values():
            older = [t for t in queued if t.service.id == target.service.id and t.id != target.id]
            await self._start(target, older)

    async def _start(self, target: Target, older: list[Target]) -> None:
        async with self.sessions() as session:
            for old in older:
                await self._finish(
                    session, old.id, "superseded", f"superseded by deployment {target.id}"
                )
            claimed = await session.execute(
                update(Deployment)
                .where(Deployment.id == target.id, Deployment.status == "queued")
                .values(status="deploying", started_at=utcnow())
                .returning(Deployment.id)
            )
            if claimed.first() is None:
                await session.rollback()
                return
            spec = target.spec
            await add_event(
                session,
                target.id,
                f"deploying {spec.image} to namespace {spec.namespace} "
                f"({spec.replicas} replica(s))",
            )
            await _event(
                session,
                target,
                EventKind.DEPLOYMENT_STARTED,
                f"{target.service.name} deploying {spec.image}",
                f"deployment {target.id} of {target.project.slug}/{target.service.name} started",
            )
            await session.commit()
        await self._apply(target)

    async def _apply(self, target: Target) -> bool:
        problem = await self.applier.apply(target)
        if problem is not None:
            async with self.sessions() as session:
                await self._finish(session, target.id, "failed", problem)
                await session.commit()
            return False
        self._applied.add(target.id)
        return True

    async def _progress(self, target: Target) -> None:
        dep, spec = target.deployment, target.spec
        if dep.cancel_requested_at is not None:
            await self._end_and_revert(target, "cancelled", "cancelled by request")
            return
        live = await self.kube.get("apps/v1", "Deployment", spec.service, spec.namespace)
        if dep.id not in self._applied or state.template_deployment_id(live) != str(dep.id):
            # First sight since a (re)start, or someone changed it under us: apply again.
            if not await self._apply(target):
                return
            live = await self.kube.get("apps/v1", "Deployment", spec.service, spec.namespace)
        pods = await self.kube.list(
            "v1", "Pod", spec.namespace, label_selector=f"{LABEL_SERVICE}={spec.service}"
        )
        await self._mirror(target, pods)
        verdict = evaluate(
            live, pods, str(dep.id), datetime.now(UTC), self.config.unschedulable_grace
        )
        if verdict.phase is Phase.COMPLETE:
            async with self.sessions() as session:
                done = await self._finish(
                    session, dep.id, "healthy", None, f"healthy: {verdict.message}"
                )
                if done:
                    name = f"{target.project.slug}/{target.service.name}"
                    await _event(
                        session,
                        target,
                        EventKind.DEPLOYMENT_HEALTHY,
                        f"{target.service.name} is healthy on {spec.image}",
                        f"deployment {dep.id} of {name}: {verdict.message}",
                    )
                    if dep.rollback_of is not None:
                        await _event(
                            session,
                            target,
                            EventKind.DEPLOYMENT_ROLLED_BACK,
                            f"{target.service.name} rolled back to {spec.image}",
                            f"{name} runs deployment {dep.rollback_of}'s snapshot again",
                        )
                await session.commit()
            return
        if verdict.phase is Phase.FAILED:
            await self._end_and_revert(target, "failed", verdict.message)
            return
        started = dep.started_at or dep.created_at
        limit = spec.progress_deadline_seconds + self.config.deadline_margin
        if datetime.now(UTC) - started > timedelta(seconds=limit):
            await self._end_and_revert(
                target, "failed", f"no progress within {int(limit)}s ({verdict.message})"
            )

    async def _finish(
        self,
        session: AsyncSession,
        deployment_id: uuid.UUID,
        status: str,
        reason: str | None,
        message: str | None = None,
    ) -> bool:
        result = await session.execute(
            update(Deployment)
            .where(Deployment.id == deployment_id, Deployment.status.in_(("queued", "deploying")))
            .values(status=status, reason=reason, finished_at=utcnow())
            .returning(Deployment.id)
        )
        self._applied.discard(deployment_id)
        if result.first() is None:
            return False
        level = "info" if status in ("healthy", "superseded") else "error"
        await add_event(session, deployment_id, message or f"{status}: {reason}", level=level)
        return True

    async def _end_and_revert(self, target: Target, status: str, reason: str) -> None:
        """End the deployment and put the cluster back on the last healthy one, if any."""
        name = f"{target.project.slug}/{target.service.name}"
        async with self.sessions() as session:
            ended = await self._finish(session, target.id, status, reason)
            previous = await targets.last_healthy(session, target)
            if ended and status == "failed":
                await _event(
                    session,
                    target,
                    EventKind.DEPLOYMENT_FAILED,
                    f"{target.service.name} failed to deploy {target.spec.image}",
                    f"deployment {target.id} of {name}: {reason}",
                )
            if previous is not None:
                await add_event(
                    session, target.id, f"reverting the cluster to deployment {previous.id}"
                )
                if ended:
                    await _event(
                        session,
                        target,
                        EventKind.DEPLOYMENT_ROLLED_BACK,
                        f"{target.service.name} rolled back to {previous.spec.image}",
                        f"deployment {target.id} of {name} {status}; the cluster is back on "
                        f"deployment {previous.id}",
                    )
            await session.commit()
        if previous is not None:
            problem = await self.applier.apply(previous)
            if problem is not None:
                log.warning("reverting to deployment %s failed: %s", previous.id, problem)

    async def _mirror(self, target: Target, pods: list[state.Obj]) -> None:
        """Copy pod states and Kubernetes events into the deployment's log."""
        ours = state.pods_of_deployment(pods, str(target.id))
        events = await self.kube.list("v1", "Event", target.spec.namespace)
        started = target.deployment.started_at or target.deployment.created_at
        about = state.events_about(
            events, {state.name_of(p) for p in ours}, target.spec.service, started
        )
        async with self.sessions() as session:
            for pod in ours:
                line = state.pod_summary(pod)
                await add_event(
                    session, target.id, line, source="kubernetes", dedupe_key=f"pod:{line}"[:255]
                )
            for event in about:
                await add_event(
                    session,
                    target.id,
                    state.event_line(event),
                    source="kubernetes",
                    level="warning" if state.event_is_warning(event) else "info",
                    dedupe_key=state.event_key(event),
                )
            await session.commit()
