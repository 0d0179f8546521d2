"""``meshploy dev``: everything needed to try Meshploy on one machine.

Embedded defaults for every external part that is not configured (see
:mod:`meshploy_testbed.stack`): PostgreSQL, a dev ``ENCRYPTION_KEY``, the local Kubernetes
cluster and the reconciler worker; then the API. Once everything is ready it prints
``MESHPLOY_API_URL=<url>``, ``MESHPLOY_TOKEN=<token of a local owner>`` and
``MESHPLOY_ORG_ID=<their organization>``, each on a line of its own.
"""

from __future__ import annotations

import asyncio
import dataclasses

import click

from meshploy_core.cli.common import fail, settings_from_context
from meshploy_core.errors import MeshployError
from meshploy_core.logs import configure_logging
from meshploy_testbed.cluster.cli import cluster


@click.group("dev", invoke_without_command=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--cluster/--no-cluster",
    "with_cluster",
    default=True,
    show_default=True,
    help="Start the local Kubernetes cluster when KUBECONFIG is unset.",
)
@click.option(
    "--real-node/--no-real-node",
    default=False,
    show_default=True,
    help="Run workloads on a real node (kubelet + containerd; needs root): deployed images "
    "really serve. See docs/realnode.md.",
)
@click.option(
    "--proxy/--no-proxy",
    "with_proxy",
    default=True,
    show_default=True,
    help="Start the edge proxy (ports: MESHPLOY_PROXY_PORT, MESHPLOY_PROXY_ADMIN_PORT).",
)
@click.pass_context
def dev(
    ctx: click.Context,
    host: str,
    port: int,
    with_cluster: bool,
    real_node: bool,
    with_proxy: bool,
) -> None:
    """Run Meshploy locally with embedded defaults (PostgreSQL, dev key, cluster, worker,
    proxy)."""
    if ctx.invoked_subcommand is not None:
        return
    from meshploy_core.app.factory import create_app
    from meshploy_core.serving import serve_until_signalled
    from meshploy_testbed.stack import DevStack

    settings = settings_from_context(ctx)
    configure_logging(settings.log_level)
    stack = DevStack(
        dataclasses.replace(settings, secure_cookies=False),
        with_cluster=with_cluster,
        real_node=real_node,
        with_proxy=with_proxy,
        say=lambda line: click.echo(line, err=True),
    )

    async def go() -> None:
        try:
            effective = await stack.start()
            app = create_app(effective, ctx.find_root().obj.get("plugins"))

            def ready() -> None:
                click.echo(f"MESHPLOY_API_URL=http://{host}:{port}")
                if stack.owner is not None:
                    click.echo(f"MESHPLOY_TOKEN={stack.owner.token}")
                    click.echo(f"MESHPLOY_ORG_ID={stack.owner.org_id}")

            await serve_until_signalled(app, host, port, on_ready=ready)
        finally:
            await stack.stop()

    try:
        asyncio.run(go())
    except MeshployError as exc:
        fail(str(exc))


dev.add_command(cluster)
