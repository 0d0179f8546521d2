"""``meshploy service deploy`` (waits for the outcome) and ``meshploy service env``.

The rest of ``meshploy service`` (create, list, get, update, delete) is generated from the
operation table (:mod:`meshploy_core.cli.api_commands`).
"""

from __future__ import annotations

from typing import Any

import click

from meshploy_core.cli import output, progress, resolve, session
from meshploy_core.cli.api_commands import covers
from meshploy_core.cli.common import fail
from meshploy_core.client.http import ApiClient, operation
from meshploy_core.client.spec import UNSET, Unset

DEFAULT_WAIT = 900.0


def _where(func: Any) -> Any:
    for option in reversed(
        [
            click.option("--project", required=True, help="Project slug or id."),
            click.option("--org", help="Organization id or slug."),
        ]
    ):
        func = option(func)
    return func


async def _service(
    client: ApiClient, conn: Any, org: str | None, project: str, name: str
) -> tuple[str, str, str]:
    org_id = await resolve.org_id(client, conn, org)
    project_id = await resolve.project_id(client, org_id, project)
    return org_id, project_id, await resolve.service_id(client, org_id, project_id, name)


@covers("deploy_service")
@click.command("deploy")
@click.argument("name")
@_where
@click.option("--image", help="Switch to this image first (default: the configured one).")
@click.option("--no-wait", is_flag=True, help="Return once the deploy is queued.")
@click.option(
    "--timeout",
    type=click.FloatRange(1),
    default=DEFAULT_WAIT,
    show_default=True,
    help="Seconds to wait for the outcome.",
)
@click.option("--quiet", "-q", is_flag=True, help="Do not show the deployment's log.")
@click.option("--json", "as_json", is_flag=True, help="Print the deployment as JSON.")
def deploy_cmd(
    name: str,
    project: str,
    org: str | None,
    image: str | None,
    no_wait: bool,
    timeout: float,
    quiet: bool,
    as_json: bool,
) -> None:
    """Deploy service NAME and wait until it is healthy (exit 1 if it fails).

    The deployment's log is shown on stderr while it runs; the result goes to stdout.
    """
    conn = session.connection()

    async def work(client: ApiClient) -> dict[str, Any]:
        org_id, project_id, service_id = await _service(client, conn, org, project, name)
        dep = await client.deploy_service(
            org_id=org_id,
            project_id=project_id,
            service_id=service_id,
            image=image if image else UNSET,
        )
        if no_wait:
            return dict(dep)
        if not as_json:
            click.echo(f"deploying {name} ({dep['image']}) as deployment {dep['id']}", err=True)
        return await progress.follow(
            client,
            org_id,
            dep["id"],
            render=None if quiet else progress.log_line,
            err=True,
            wait_seconds=timeout,
            progress=True,
        )

    dep = session.run(conn, work)
    ok, sentence = progress.outcome(dep) if not no_wait else (True, "")
    if as_json:
        output.emit_json(dep)
    elif no_wait:
        click.echo(f"deployment {dep['id']} queued ({dep['status']})")
    elif ok:
        click.echo(sentence)
    if not ok:
        fail(sentence)


@click.group("env")
def env_group() -> None:
    """A service's environment variables (values are write-only: shown masked)."""


def _env_change(
    name: str, project: str, org: str | None, set_: dict[str, str], unset: list[str], as_json: bool
) -> None:
    conn = session.connection()

    async def work(client: ApiClient) -> Any:
        org_id, project_id, service_id = await _service(client, conn, org, project, name)
        return await client.update_env(
            org_id=org_id, project_id=project_id, service_id=service_id, set=set_, unset=unset
        )

    output.show(operation("update_env"), session.run(conn, work), as_json)


def _pairs(values: tuple[str, ...]) -> dict[str, str]:
    found: dict[str, str] = {}
    for text in values:
        key, sep, value = text.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{text!r} is not KEY=VALUE", param_hint="KEY=VALUE")
        found[key] = value
    return found


@covers("update_env")
@env_group.command("set")
@click.argument("name")
@click.argument("pairs", nargs=-1, required=True, metavar="KEY=VALUE...")
@_where
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON answer.")
def env_set_cmd(
    name: str, pairs: tuple[str, ...], project: str, org: str | None, as_json: bool
) -> None:
    """Set environment variables of service NAME (applied at the next deploy)."""
    _env_change(name, project, org, _pairs(pairs), [], as_json)


@covers("update_env")
@env_group.command("unset")
@click.argument("name")
@click.argument("keys", nargs=-1, required=True, metavar="KEY...")
@_where
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON answer.")
def env_unset_cmd(
    name: str, keys: tuple[str, ...], project: str, org: str | None, as_json: bool
) -> None:
    """Remove environment variables of service NAME (applied at the next deploy)."""
    _env_change(name, project, org, {}, list(keys), as_json)


@covers("get_env")
@env_group.command("list")
@click.argument("name")
@_where
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON answer.")
def env_list_cmd(name: str, project: str, org: str | None, as_json: bool) -> None:
    """The environment variables of service NAME (values masked)."""
    conn = session.connection()

    async def work(client: ApiClient) -> Any:
        org_id, project_id, service_id = await _service(client, conn, org, project, name)
        return await client.get_env(org_id=org_id, project_id=project_id, service_id=service_id)

    result = session.run(conn, work)
    if as_json:
        output.emit_json(result)
    elif not result["variables"]:
        click.echo("no variables")
    else:
        click.echo(output.table(result["variables"], ["name", "value"]))


FOLLOW_INTERVAL = 1.0


@covers("service_logs")
@click.command("logs")
@click.argument("name")
@_where
@click.option(
    "--tail",
    type=click.IntRange(1, 5000),
    default=200,
    show_default=True,
    help="Start with this many of the newest lines.",
)
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines (Ctrl-C stops).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def logs_cmd(
    name: str, project: str, org: str | None, tail: int, follow: bool, as_json: bool
) -> None:
    """What service NAME's containers wrote (stdout and stderr), all pods merged by time.

    Each line is prefixed with its pod's name; pods whose output cannot be read are named on
    stderr with the reason. --follow asks for the lines that came since every second (every
    line exactly once, even across several pods).
    """
    import asyncio
    import json

    conn = session.connection()

    def show(page: Any) -> None:
        for line in page["items"]:
            if as_json:
                click.echo(json.dumps(line))
            else:
                click.echo(f"{line['pod']}  {line['time'][:23]}Z  {line['message']}")
        for pod in page["unavailable"]:
            click.echo(f"({pod['pod']}: {pod['reason']})", err=True)

    async def work(client: ApiClient) -> None:
        org_id, project_id, service_id = await _service(client, conn, org, project, name)
        after: str | Unset = UNSET  # first the newest `tail` lines, then what came since
        first = True
        while first or follow:
            if not first:
                await asyncio.sleep(FOLLOW_INTERVAL)
            page = await client.service_logs(
                org_id=org_id,
                project_id=project_id,
                service_id=service_id,
                tail=tail if first else 5000,
                after=after,
            )
            if not first:
                page["unavailable"] = []  # said once is enough while following
            show(page)
            after, first = page["next_after"], False

    try:
        session.run(conn, work)
    except KeyboardInterrupt:
        raise SystemExit(130) from None
