"""``meshploy job logs``: a run's output (the latest run's unless one is named).

The rest of ``meshploy job`` (create, list, get, update, delete, trigger, runs, ...) is
generated from the operation table (:mod:`meshploy_core.cli.api_commands`).
"""

from __future__ import annotations

from typing import Any

import click

from meshploy_core.cli import output, resolve, session
from meshploy_core.cli.api_commands import covers
from meshploy_core.client.errors import NotConfigured
from meshploy_core.client.http import ApiClient


@covers("job_logs")
@click.command("logs")
@click.argument("name")
@click.argument("run_id", required=False, metavar="[RUN_ID]")
@click.option("--project", required=True, help="Project slug or id.")
@click.option("--org", help="Organization id or slug.")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON answer.")
def logs_cmd(name: str, run_id: str | None, project: str, org: str | None, as_json: bool) -> None:
    """What a run of job NAME printed (the latest run unless RUN_ID is given).

    Output is kept after the run's pod is gone, for the retention period. The run's status
    and exit code go to stderr, the output to stdout.
    """
    conn = session.connection()

    async def work(client: ApiClient) -> Any:
        org_id = await resolve.org_id(client, conn, org)
        project_id = await resolve.project_id(client, org_id, project)
        job_id = await resolve.job_id(client, org_id, project_id, name)
        target = run_id
        if target is None:
            page = await client.job_runs(
                org_id=org_id, project_id=project_id, job_id=job_id, limit=1
            )
            if not page["items"]:
                raise NotConfigured(f"job {name!r} has not run yet (meshploy job trigger {name})")
            target = page["items"][0]["id"]
        return await client.job_logs(
            org_id=org_id, project_id=project_id, job_id=job_id, run_id=target
        )

    result = session.run(conn, work)
    if as_json:
        output.emit_json(result)
        return
    run = result["run"]
    code = run["exit_code"]
    summary = f"run {run['id']} ({run['trigger']}): {run['status']}"
    if code is not None:
        summary += f", exit code {code}"
    if run["reason"]:
        summary += f": {run['reason']}"
    click.echo(summary, err=True)
    if result["output"] is not None:
        click.echo(result["output"], nl=False)
    else:
        click.echo(f"(no output: {result['note']})", err=True)
