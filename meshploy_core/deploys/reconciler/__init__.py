"""Converge the cluster to the desired state in PostgreSQL.

One pass (:meth:`Reconciler.run_once`) is idempotent and keeps no state that matters across
restarts: a deployment marked ``deploying`` is re-applied (server-side apply of the same
objects is a no-op) and judged again from what Kubernetes reports, so a worker killed at any
point and restarted finishes or cleanly fails what was in flight. The caller makes sure only
the leader runs passes (:mod:`meshploy_core.deploys.leader`).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from meshploy_core.db.base import utcnow
from meshploy_core.deploys.deployments import add_event
from meshploy_core.deploys.models import Deployment
from meshploy_core.kube import manifests
from meshploy_core.kube.adapter import KubeAdapter, KubeError
from meshploy_core.kube.rollout import Phase, evaluate
from meshploy_core.kube.spec import (
    ANNOTATION_DEPLOYMENT,
    LABEL_PROJECT_ID,
    LABEL_SERVICE,
    WorkloadSpec,
    namespace_for,
)
from meshploy_core.organizations.models import Organization
from meshploy_core.projects.models import Project
from meshploy_core.registries.logins import PullLogins, RegistryLookupError
from meshploy_core.routing.models import Route
from meshploy_core.routing.upstreams import node_addresses, node_port, upstreams_for
from meshploy_core.services.models import Service

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReconcilerConfig:
    """Timings. Defaults suit production; tests shorten the grace periods."""

    unschedulable_grace: float = 20.0
    drift_interval: float = 5.0
    #: Extra time after the Deployment's own progress deadline before we give up ourselves.
    deadline_margin: float = 60.0


@dataclass
class _Target:
    deployment: Deployment
    service: Service
    project: Project
    org: Organization

    @property
    def spec(self) -> WorkloadSpec:
        return WorkloadSpec.from_json(self.deployment.spec_snapshot)

    @property
    def env(self) -> dict[str, str]:
        raw = self.deployment.env_snapshot
        return dict(json.loads(raw)) if raw else {}


@dataclass
class Reconciler:
    """Applies deployments, judges rollouts, keeps routes current, repairs drift."""

    sessions: async_sessionmaker[AsyncSession]
    kube: KubeAdapter
    config: ReconcilerConfig = field(default_factory=ReconcilerConfig)
    #: Where pull logins come from (the image registries plugins registered).
    logins: PullLogins = field(default_factory=PullLogins)
    _applied: set[uuid.UUID] = field(default_factory=set)
    _last_drift_check: float = 0.0

    async def run_once(self) -> None:
        """One full pass; each part is isolated so one failure does not stall the rest."""
        for part in (
            self.cleanup_deleted,
            self.advance_deployments,
            self.sync_routes,
            self.repair_drift,
        ):
            try:
                await part()
            except KubeError as exc:
                log.warning("reconciler %s: %s", part.__name__, exc)

    # -- deployments ------------------------------------------------------------------------

    async def _targets(self, session: AsyncSession, status: str) -> list[_Target]:
        rows = await session.execute(
            select(Deployment, Service, Project, Organization)
            .join(Service, Service.id == Deployment.service_id)
            .join(Project, Project.id == Service.project_id)
            .join(Organization, Organization.id == Project.org_id)
            .where(Deployment.status == status, Service.deleted_at.is_(None))
            .order_by(Deployment.created_at)
        )
        return [_Target(*row) for row in rows.all()]

    async def advance_deployments(self) -> None:
        """Judge running deployments, then start the newest queued one of each idle service."""
        async with self.sessions() as session:
            running = await self._targets(session, "deploying")
        busy = set()
        for target in running:
            busy.add(target.service.id)
            await self._progress(target)
        async with self.sessions() as session:
            queued = await self._targets(session, "queued")
        newest: dict[uuid.UUID, _Target] = {}
        for target in queued:
            if target.service.id not in busy:
                newest[target.service.id] = target  # ordered by created_at: last one wins
        for target in newest.values():
            await self._start(
                target,
                [
                    t
                    for t in queued
                    if t.service.id == target.service.id and t.deployment.id != target.deployment.id
                ],
            )

    async def _start(self, target: _Target, older: list[_Target]) -> None:
        dep = target.deployment
        async with self.sessions() as session:
            for old in older:
                await self._finish(
                    session, old.deployment.id, "superseded", f"superseded by deployment {dep.id}"
                )
            claimed = await session.execute(
                update(Deployment)
                .where(Deployment.id == dep.id, Deployment.status == "queued")
                .values(status="deploying", started_at=utcnow())
                .returning(Deployment.id)
            )
            if claimed.first() is None:
                await session.rollback()
                return
            spec = target.spec
            await add_event(
                session,
                dep.id,
                f"deploying {spec.image} to namespace "
                f"{spec.namespace} ({spec.replicas} replica(s))",
            )
            await session.commit()
        await self._apply(target)

    async def _apply(self, target: _Target) -> bool:
        spec, dep = target.spec, target.deployment
        # Registry credentials are looked up now, not snapshotted: a rotated password also
        # serves rollbacks, and a deleted one stops being used.
        try:
            creds = await self.logins.for_image(target.org.id, spec.image)
        except RegistryLookupError as exc:
            async with self.sessions() as session:
                await self._finish(session, dep.id, "failed", str(exc))
                await session.commit()
            return False
        pull: list[manifests.Manifest] = []
        if creds is not None:
            pull = [manifests.pull_secret(spec, creds.server, creds.username, creds.password)]
            spec = replace(spec, image_pull_secret=manifests.pull_secret_name(spec.service))
        objects = [
            *manifests.project_manifests(
                target.org.slug, target.project.slug, spec.namespace, str(target.project.id)
            ),
            *pull,
            *manifests.service_manifests(spec, str(dep.id), target.env),
        ]
        try:
            for manifest in objects:
                await self.kube.apply(manifest)
            if creds is None:  # credentials deleted since the last deploy: drop the copy
                await self.kube.delete(
                    "v1", "Secret", manifests.pull_secret_name(spec.service), spec.namespace
                )
        except KubeError as exc:
            async with self.sessions() as session:
                await self._finish(session, dep.id, "failed", f"Kubernetes rejected it: {exc}")
                await session.commit()
            return False
        self._applied.add(dep.id)
        return True

    async def _progress(self, target: _Target) -> None:
        dep, spec = target.deployment, target.spec
        if dep.cancel_requested_at is not None:
            await self._end_and_revert(target, "cancelled", "cancelled by request")
            return
        live = await self.kube.get("apps/v1", "Deployment", spec.service, spec.namespace)
        live_id = (
            ((live or {}).get("spec", {}).get("template", {}).get("metadata") or {}).get(
                "annotations"
            )
            or {}
        ).get(ANNOTATION_DEPLOYMENT)
        if dep.id not in self._applied or live_id != str(dep.id):
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
                await self._finish(session, dep.id, "healthy", None, f"healthy: {verdict.message}")
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
    ) -> None:
        result = await session.execute(
            update(Deployment)
            .where(Deployment.id == deployment_id, Deployment.status.in_(("queued", "deploying")))
            .values(status=status, reason=reason, finished_at=utcnow())
            .returning(Deployment.id)
        )
        self._applied.discard(deployment_id)
        if result.first() is not None:
            level = "info" if status in ("healthy", "superseded") else "error"
            await add_event(session, deployment_id, message or f"{status}: {reason}", level=level)

    async def _last_healthy(self, session: AsyncSession, target: _Target) -> _Target | None:
        row = await session.scalar(
            select(Deployment)
            .where(
                Deployment.service_id == target.service.id,
                Deployment.status == "healthy",
                Deployment.id != target.deployment.id,
            )
            .order_by(Deployment.finished_at.desc())
            .limit(1)
        )
        if row is None:
            return None
        return _Target(row, target.service, target.project, target.org)

    async def _end_and_revert(self, target: _Target, status: str, reason: str) -> None:
        """End the deployment and put the cluster back on the last healthy one, if any."""
        async with self.sessions() as session:
            await self._finish(session, target.deployment.id, status, reason)
            previous = await self._last_healthy(session, target)
            if previous is not None:
                await add_event(
                    session,
                    target.deployment.id,
                    f"reverting the cluster to deployment {previous.deployment.id}",
                )
            await session.commit()
        if previous is not None:
            await self._apply(previous)
            self._applied.discard(previous.deployment.id)

    async def _mirror(self, target: _Target, pods: list[dict[str, Any]]) -> None:
        """Copy pod states and Kubernetes events into the deployment's log."""
        dep_id = str(target.deployment.id)
        ours = [
            p
            for p in pods
            if ((p.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_DEPLOYMENT)
            == dep_id
        ]
        names = {p["metadata"]["name"] for p in ours}
        events = await self.kube.list("v1", "Event", target.spec.namespace)
        async with self.sessions() as session:
            for pod in ours:
                line = _pod_line(pod)
                await add_event(
                    session,
                    target.deployment.id,
                    line,
                    source="kubernetes",
                    dedupe_key=f"pod:{line}"[:255],
                )
            for ev in events:
                involved = ev.get("involvedObject") or {}
                if involved.get("name") not in names and not (
                    involved.get("kind") in ("Deployment", "ReplicaSet")
                    and str(involved.get("name", "")).startswith(target.spec.service)
                ):
                    continue
                uid = (ev.get("metadata") or {}).get("uid")
                when = ev.get("lastTimestamp") or ev.get("eventTime") or ""
                started = target.deployment.started_at or target.deployment.created_at
                if when and datetime.fromisoformat(
                    when.replace("Z", "+00:00")
                ) < started - timedelta(seconds=1):
                    continue
                level = "warning" if ev.get("type") == "Warning" else "info"
                await add_event(
                    session,
                    target.deployment.id,
                    f"{involved.get('kind')}/{involved.get('name')}: {ev.get('reason')}: "
                    f"{ev.get('message', '').strip()}",
                    source="kubernetes",
                    level=level,
                    dedupe_key=f"k8s:{uid}:{ev.get('count', 1)}",
                )
            await session.commit()

    # -- deletion ---------------------------------------------------------------------------

    async def cleanup_deleted(self) -> None:
        """Remove what deleted services and projects left in the cluster."""
        await self._cleanup_services()
        await self._cleanup_namespaces()

    async def _cleanup_namespaces(self) -> None:
        """Delete namespaces of projects that no longer exist (deleting a project cascades
        its rows at once; the namespace and everything in it goes here)."""
        namespaces = await self.kube.list(
            "v1", "Namespace", label_selector="app.kubernetes.io/managed-by=meshploy"
        )
        if not namespaces:
            return
        async with self.sessions() as session:
            live = {str(pid) for pid in (await session.scalars(select(Project.id))).all()}
        for ns in namespaces:
            meta = ns.get("metadata") or {}
            project_id = (meta.get("labels") or {}).get(LABEL_PROJECT_ID)
            if project_id and project_id not in live and not meta.get("deletionTimestamp"):
                await self.kube.delete("v1", "Namespace", meta["name"])
                log.info("deleted namespace %s of deleted project %s", meta["name"], project_id)

    async def _cleanup_services(self) -> None:
        """Remove Kubernetes objects and routes of deleted services, then their rows."""
        async with self.sessions() as session:
            rows = (
                await session.execute(
                    select(Service, Project)
                    .join(Project, Project.id == Service.project_id)
                    .where(Service.deleted_at.is_not(None))
                )
            ).all()
        for service, project in rows:
            namespace = namespace_for(project.slug, project.id.hex)
            await self.kube.delete("apps/v1", "Deployment", service.name, namespace)
            await self.kube.delete("v1", "Service", service.name, namespace)
            for secret in await self.kube.list(
                "v1", "Secret", namespace, label_selector=f"{LABEL_SERVICE}={service.name}"
            ):
                await self.kube.delete("v1", "Secret", secret["metadata"]["name"], namespace)
            async with self.sessions() as session:
                await session.execute(delete(Route).where(Route.service_id == service.id))
                await session.execute(delete(Service).where(Service.id == service.id))
                await session.commit()
            log.info("deleted service %s from namespace %s", service.name, namespace)

    # -- routes -----------------------------------------------------------------------------

    async def _current(self, session: AsyncSession) -> list[_Target]:
        """For each live service, its most recent healthy deployment (what should run)."""
        healthy = await self._targets(session, "healthy")
        latest: dict[uuid.UUID, _Target] = {}
        for target in healthy:
            seen = latest.get(target.service.id)
            finished = target.deployment.finished_at or target.deployment.created_at
            if seen is None or finished >= (
                seen.deployment.finished_at or seen.deployment.created_at
            ):
                latest[target.service.id] = target
        return list(latest.values())

    async def sync_routes(self) -> None:
        """Point each exposed service's route at the Ready nodes running its ready pods."""
        async with self.sessions() as session:
            current = await self._current(session)
            routes = {
                r.service_id: r
                for r in (
                    await session.scalars(select(Route).where(Route.service_id.is_not(None)))
                ).all()
            }
        ready_nodes = node_addresses(await self.kube.list("v1", "Node"))
        pods_by_ns: dict[str, list[dict[str, Any]]] = {}
        desired: dict[uuid.UUID, tuple[str, list[dict[str, Any]], _Target]] = {}
        for target in current:
            hostname = target.service.hostname
            if not hostname:
                continue
            spec = target.spec
            if spec.namespace not in pods_by_ns:
                pods_by_ns[spec.namespace] = await self.kube.list(
                    "v1",
                    "Pod",
                    spec.namespace,
                    label_selector="app.kubernetes.io/managed-by=meshploy",
                )
            svc = await self.kube.get("v1", "Service", spec.service, spec.namespace)
            ups = upstreams_for(
                spec.service, pods_by_ns[spec.namespace], ready_nodes, node_port(svc)
            )
            desired[target.service.id] = (hostname, ups, target)
        async with self.sessions() as session:
            changed = False
            for service_id, existing in routes.items():
                if service_id not in desired or desired[service_id][0] != existing.hostname:
                    await session.execute(delete(Route).where(Route.id == existing.id))
                    changed = True
            await session.flush()
            for service_id, (hostname, ups, target) in desired.items():
                route = routes.get(service_id)
                if route is not None and route.hostname == hostname:
                    if route.upstreams != ups:
                        await session.execute(
                            update(Route)
                            .where(Route.id == route.id)
                            .values(upstreams=ups, updated_at=utcnow())
                        )
                        changed = True
                    continue
                session.add(
                    Route(
                        id=uuid.uuid4(),
                        org_id=target.org.id,
                        service_id=service_id,
                        hostname=hostname,
                        path_prefix="/",
                        upstreams=ups,
                        updated_at=utcnow(),
                    )
                )
                changed = True
            if changed:
                await session.commit()

    # -- drift ------------------------------------------------------------------------------

    async def repair_drift(self) -> None:
        """Re-apply the current deployment where the cluster no longer matches it."""
        now = time.monotonic()
        if now - self._last_drift_check < self.config.drift_interval:
            return
        self._last_drift_check = now
        async with self.sessions() as session:
            current = await self._current(session)
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
            problem = await self._drift(target)
            if problem is None:
                continue
            async with self.sessions() as session:
                await add_event(
                    session,
                    target.deployment.id,
                    f"drift detected ({problem}); re-applying",
                    level="warning",
                )
                await session.commit()
            await self._apply(target)
            self._applied.discard(target.deployment.id)

    async def _drift(self, target: _Target) -> str | None:
        spec = target.spec
        live = await self.kube.get("apps/v1", "Deployment", spec.service, spec.namespace)
        if live is None:
            return "the Deployment was deleted"
        want = manifests.deployment(spec, str(target.deployment.id), target.env)
        live_spec, want_spec = live.get("spec") or {}, want["spec"]
        if live_spec.get("replicas") != want_spec["replicas"]:
            return f"replicas changed to {live_spec.get('replicas')}"
        live_tpl = live_spec.get("template") or {}
        live_ann = (live_tpl.get("metadata") or {}).get("annotations") or {}
        if live_ann.get(ANNOTATION_DEPLOYMENT) != str(target.deployment.id):
            return "the pod template was replaced"
        live_images = [c.get("image") for c in (live_tpl.get("spec") or {}).get("containers") or []]
        if live_images != [spec.image]:
            return f"image changed to {', '.join(str(i) for i in live_images)}"
        if await self.kube.get("v1", "Service", spec.service, spec.namespace) is None:
            return "the Service was deleted"
        return None


def _pod_line(pod: dict[str, Any]) -> str:
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    node = (pod.get("spec") or {}).get("nodeName") or "unscheduled"
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    parts = [f"pod {meta.get('name')} on {node}: {status.get('phase', 'Pending')}"]
    if ready:
        parts.append("ready")
    for cs in status.get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason"):
            parts.append(f"{cs.get('name')} waiting: {waiting['reason']}")
    return ", ".join(parts)
