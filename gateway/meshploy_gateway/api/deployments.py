"""``/api/v1/orgs/{org_id}/deployments/{deployment_id}``: status, log, rollback, cancel."""

from __future__ import annotations

import uuid

from quart import Blueprint
from quart_schema import validate_querystring, validate_response

from meshploy_core.authorization.policy import requires
from meshploy_core.deploys import deployments
from meshploy_core.web.context import actor, db
from meshploy_core.web.openapi import destructive, problems
from meshploy_gateway.api.service_models import DeploymentOut, LogLineOut, LogOut, LogQuery

bp = Blueprint("deployments", __name__, url_prefix="/api/v1/orgs/<uuid:org_id>/deployments")


@bp.get("/<uuid:deployment_id>")
@requires("deployment:read")
@validate_response(DeploymentOut)
async def get_deployment(org_id: uuid.UUID, deployment_id: uuid.UUID) -> DeploymentOut:
    """One deployment and its status."""
    dep, *_ = await deployments.get_deployment(db(), org_id, deployment_id)
    return DeploymentOut.of(dep)


@bp.get("/<uuid:deployment_id>/logs")
@requires("deployment:read")
@validate_querystring(LogQuery)
@validate_response(LogOut)
async def deployment_logs(
    org_id: uuid.UUID, deployment_id: uuid.UUID, query_args: LogQuery
) -> LogOut:
    """The deployment's log: Meshploy's steps, pod states and Kubernetes events.

    With ``wait`` the call holds until a new line arrives or the deployment ends (long poll),
    so ``--follow`` is a loop over ``?after=<next_after>&wait=20`` until ``done``.
    """
    log = await deployments.read_log(
        db(),
        org_id,
        deployment_id,
        after=query_args.after,
        limit=query_args.limit,
        wait=query_args.wait,
    )
    return LogOut(
        items=[LogLineOut.of(e) for e in log.lines],
        next_after=log.next_after,
        done=log.done,
        status=log.deployment.status,
    )


@bp.post("/<uuid:deployment_id>/rollback")
@requires("deployment:write")
@destructive
@problems(409)
@validate_response(DeploymentOut, 202)
async def rollback(org_id: uuid.UUID, deployment_id: uuid.UUID) -> tuple[DeploymentOut, int]:
    """Roll the service back to this deployment's image and environment (no rebuild).
    DESTRUCTIVE: replaces what is running."""
    session = db()
    target, service, project, org = await deployments.get_deployment(session, org_id, deployment_id)
    new = await deployments.request_rollback(session, actor(), org, project, service, target)
    await session.commit()
    return DeploymentOut.of(new), 202


@bp.post("/<uuid:deployment_id>/cancel")
@requires("deployment:write")
@destructive
@problems(409)
@validate_response(DeploymentOut)
async def cancel(org_id: uuid.UUID, deployment_id: uuid.UUID) -> DeploymentOut:
    """Cancel a queued or running deployment (a running one reverts to the last healthy).
    DESTRUCTIVE."""
    session = db()
    dep, _, _, org = await deployments.get_deployment(session, org_id, deployment_id)
    await deployments.request_cancel(session, actor(), org, dep)
    await session.commit()
    return DeploymentOut.of(dep)
