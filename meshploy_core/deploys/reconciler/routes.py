"""Routes follow what runs: each exposed service's route points at the Ready nodes that run
its ready pods (mesh IP + NodePort). Rows change only when the answer changed, and every
change wakes the proxies (a PostgreSQL trigger NOTIFYs them)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from meshploy_core.db.base import utcnow
from meshploy_core.deploys.reconciler import targets
from meshploy_core.deploys.reconciler.targets import Target
from meshploy_core.kube import state
from meshploy_core.kube.adapter import KubeAdapter
from meshploy_core.routing.models import Route
from meshploy_core.routing.upstreams import upstreams_for

MANAGED = "app.kubernetes.io/managed-by=meshploy"


@dataclass(frozen=True)
class _Wanted:
    hostname: str
    upstreams: list[dict[str, Any]]
    target: Target


@dataclass
class RouteSync:
    """Keeps the ``routes`` table equal to what the cluster can serve."""

    sessions: async_sessionmaker[AsyncSession]
    kube: KubeAdapter

    async def sync(self) -> None:
        """Point each exposed service's route at the nodes running its ready pods."""
        async with self.sessions() as session:
            current = await targets.current(session)
            routes = {
                r.service_id: r
                for r in (
                    await session.scalars(select(Route).where(Route.service_id.is_not(None)))
                ).all()
            }
        wanted = await self._wanted(current)
        async with self.sessions() as session:
            changed = False
            for service_id, existing in routes.items():
                if service_id not in wanted or wanted[service_id].hostname != existing.hostname:
                    await session.execute(delete(Route).where(Route.id == existing.id))
                    changed = True
            await session.flush()
            for service_id, want in wanted.items():
                route = routes.get(service_id)
                if route is not None and route.hostname == want.hostname:
                    if route.upstreams != want.upstreams:
                        await session.execute(
                            update(Route)
                            .where(Route.id == route.id)
                            .values(upstreams=want.upstreams, updated_at=utcnow())
                        )
                        changed = True
                    continue
                session.add(
                    Route(
                        id=uuid.uuid4(),
                        org_id=want.target.org.id,
                        service_id=service_id,
                        hostname=want.hostname,
                        path_prefix="/",
                        upstreams=want.upstreams,
                        updated_at=utcnow(),
                    )
                )
                changed = True
            if changed:
                await session.commit()

    async def _wanted(self, current: list[Target]) -> dict[uuid.UUID, _Wanted]:
        ready_nodes = state.node_addresses(await self.kube.list("v1", "Node"))
        pods_by_ns: dict[str, list[state.Obj]] = {}
        wanted: dict[uuid.UUID, _Wanted] = {}
        for target in current:
            hostname = target.service.hostname
            if not hostname:
                continue
            spec = target.spec
            if spec.namespace not in pods_by_ns:
                pods_by_ns[spec.namespace] = await self.kube.list(
                    "v1", "Pod", spec.namespace, label_selector=MANAGED
                )
            svc = await self.kube.get("v1", "Service", spec.service, spec.namespace)
            ups = upstreams_for(
                spec.service, pods_by_ns[spec.namespace], ready_nodes, state.node_port(svc)
            )
            wanted[target.service.id] = _Wanted(hostname, ups, target)
        return wanted
