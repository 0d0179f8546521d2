"""``meshploy deployment logs`` (``--follow``) and ``meshploy deployment rollback`` (waits).

The rest of ``meshploy deployment`` (list, get, cancel) is generated from the operation
table (:mod:`meshploy_core.cli.api_commands`).
"""

from __future__ import annotations

from typing import Any

import click

from meshploy_core.cli import output, progress, resolve, session
from meshploy_core.cli.api_commands import covers
from meshploy_core.cli.common import fail
from meshploy_core.client.errors import NotConfigured
from meshploy_core.client.http import ApiClient

DEFAULT_WAIT = 900.0


@covers("deployment_logs")
@click.command("logs")
@click.argument("deployment_id", required=False, metavar="[DEPLOYMENT_ID]")
@click.option("--follow", "-f", is_flag=True, help="Keep printing lines until it ends.")
@click.option("--project", help="With --service: the latest deployment of that service.")
@click.option("--service", help="Service name or id (with --project), instead of an id.")
@click.option("--org", help="Organization id or slug.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def logs_cmd(
    deployment_id: str | None,
    follow: bool,
    project: str | None,
    service: str | None,
    org: str | None,
    as_json: bool,
) -> None:
    """A deployment's log: Meshploy's steps, pod states and Kubernetes events.

    Give DEPLOYMENT_ID, or --project and --service for that service's latest deployment.
    With --follow, waits for new lines (long poll) until the deployment ends.
    """
    if deployment_id is None and not (project and service):
        raise click.UsageError("give DEPLOYMENT_ID, or --project P --service NAME")
    conn = session.connection()

    async def work(client: ApiClient) -> dict[str, Any]:
        org_id = await resolve.org_id(client, conn, org)
        target = deployment_id
        if target is None:
            assert project is not None and service is not None
            project_id = await resolve.project_id(client, org_id, project)
            service_id = await resolve.service_id(client, org_id, project_id, service)
            page = await client.list_deployments(
                org_id=org_id, project_id=project_id, service_id=service_id, limit=1
            )
            if not page["items"]:
                raise NotConfigured(f"service {service!r} has no deployments yet")
            target = page["items"][0]["id"]
        return await progress.follow(
            client,
            org_id,
            target,
            render=progress.json_line if as_json else progress.log_line,
            follow_until_done=follow,
        )

    session.run(conn, work)


@covers("rollback")
@click.command("rollback")
@click.argument("deployment_id")
@click.option("--org", help="Organization id or slug.")
@click.option("--no-wait", is_flag=True, help="Return once the rollback is queued.")
@click.option(
    "--timeout",
    type=click.FloatRange(1),
    default=DEFAULT_WAIT,
    show_default=True,
    help="Seconds to wait for the outcome.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the new deployment as JSON.")
def rollback_cmd(
    deployment_id: str, org: str | None, no_wait: bool, timeout: float, as_json: bool
) -> None:
    """Roll back to DEPLOYMENT_ID's image and environment (DESTRUCTIVE: replaces what runs).

    Queues a new deployment and waits until it is healthy (exit 1 if it fails).
    """
    conn = session.connection()

    async def work(client: ApiClient) -> dict[str, Any]:
        org_id = await resolve.org_id(client, conn, org)
        dep = await client.rollback(org_id=org_id, deployment_id=deployment_id)
        if no_wait:
            return dict(dep)
        if not as_json:
            click.echo(f"rolling back to {dep['image']} as deployment {dep['id']}", err=True)
        return await progress.follow(
            client,
            org_id,
            dep["id"],
            render=progress.log_line,
            err=True,
            wait_seconds=timeout,
            progress=True,
        )

    dep = session.run(conn, work)
    if as_json:
        output.emit_json(dep)
    if no_wait:
        if not as_json:
            click.echo(f"deployment {dep['id']} queued ({dep['status']})")
        return
    ok, sentence = progress.outcome(dep)
    if ok and not as_json:
        click.echo(sentence)
    if not ok:
        fail(sentence)
