"""``GET .../services/{service_id}/logs``: what a service's containers wrote.

Read through the Kubernetes API from the kubelets, merged across pods in time order. Every
answer carries ``next_after``, an opaque cursor holding the position reached in each pod's
log: pass it as ``after`` to get the lines that came since, each exactly once (the CLI's
``meshploy service logs --follow`` polls like that).
"""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, Field
from quart import Blueprint, current_app
from quart_schema import validate_querystring, validate_response

from meshploy_core.app.state import kube_of
from meshploy_core.authorization.policy import requires
from meshploy_core.services import logs
from meshploy_core.web.context import db
from meshploy_core.web.openapi import problems

bp = Blueprint(
    "service_logs",
    __name__,
    url_prefix="/api/v1/orgs/<uuid:org_id>/projects/<uuid:project_id>/services",
)

CURSOR = r"^[A-Za-z0-9_-]*$"


class LogsQuery(BaseModel):
    """How many lines, and from where."""

    model_config = ConfigDict(extra="forbid")

    tail: int = Field(200, ge=1, le=5000, description="At most this many (the newest) lines.")
    after: str | None = Field(
        None,
        max_length=4096,
        pattern=CURSOR,
        description="The `next_after` of your previous answer: only lines that came since "
        "(the next `tail` of them, oldest first).",
    )


class LogLineOut(BaseModel):
    """One line of output."""

    pod: str
    time: str = Field(description="When the container wrote it: UTC, RFC 3339, nanoseconds.")
    message: str


class PodUnavailable(BaseModel):
    """A pod whose output could not be read, and why."""

    pod: str
    reason: str


class LogsOut(BaseModel):
    """Lines of every pod of the service, oldest first."""

    items: list[LogLineOut]
    next_after: str = Field(description="Pass as `after` to get the lines that come next.")
    unavailable: list[PodUnavailable]


@bp.get("/<uuid:service_id>/logs")
@requires("service:logs")
@problems(422, 503)
@validate_querystring(LogsQuery)
@validate_response(LogsOut)
async def service_logs(
    org_id: uuid.UUID, project_id: uuid.UUID, service_id: uuid.UUID, query_args: LogsQuery
) -> LogsOut:
    """What the service's containers wrote (stdout and stderr), newest `tail` lines."""
    page = await logs.read_service_logs(
        db(),
        lambda: kube_of(current_app),
        org_id,
        project_id,
        service_id,
        tail=query_args.tail,
        after=query_args.after,
    )
    return LogsOut(
        items=[LogLineOut(pod=ln.pod, time=ln.time, message=ln.message) for ln in page.lines],
        next_after=page.next_after,
        unavailable=[PodUnavailable(pod=p, reason=r) for p, r in page.unavailable],
    )
