"""Service logs: what a service's containers wrote, read from Kubernetes.

Lines come from every pod of the service, merged by time (:mod:`meshploy_core.kube.logs`
does the reading and merging); the cursor handed back holds the position reached in each
pod's log, so following with it never skips or repeats a line.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from meshploy_core.errors import Unavailable, ValidationFailed
from meshploy_core.kube import logs as kube_logs
from meshploy_core.kube.adapter import KubeAdapter, KubeError
from meshploy_core.projects import projects
from meshploy_core.services import catalog


@dataclass(frozen=True)
class ServiceLogPage:
    """Lines (oldest first), the cursor for what comes next, and pods that were unreadable."""

    lines: list[kube_logs.LogLine]
    next_after: str
    unavailable: list[tuple[str, str]]


async def read_service_logs(
    session: AsyncSession,
    kube: Callable[[], Awaitable[KubeAdapter]],
    org_id: uuid.UUID,
    project_id: uuid.UUID,
    service_id: uuid.UUID,
    *,
    tail: int,
    after: str | None = None,
) -> ServiceLogPage:
    """The newest ``tail`` lines, or those after the cursor ``after``.

    The database session is closed before Kubernetes is asked (reading logs takes a while);
    an unreachable cluster is :class:`Unavailable`, a cursor not made by us is
    :class:`ValidationFailed`.
    """
    project = await projects.get_project(session, org_id, project_id)
    service = await catalog.get_service(session, project, service_id)
    await session.close()
    positions = None
    if after is not None:
        try:
            positions = kube_logs.decode_cursor(after)
        except ValueError:
            raise ValidationFailed(
                "after must be the next_after of a previous answer of this operation "
                "(leave it out to start from the newest lines)",
                {"after": "not a cursor from a previous answer"},
            ) from None
    adapter = await kube()
    try:
        got = await kube_logs.service_logs(
            adapter,
            projects.namespace_of(project),
            service.name,
            tail=tail,
            positions=positions,
        )
    except KubeError as exc:
        raise Unavailable(f"cannot read the service's pods from Kubernetes: {exc}") from None
    return ServiceLogPage(
        lines=list(got.lines),
        next_after=kube_logs.encode_cursor(got.positions),
        unavailable=list(got.unavailable),
    )
