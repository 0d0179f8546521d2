"""``meshploy mcp``: the MCP server over stdio (see :mod:`meshploy_core.mcp`)."""

from __future__ import annotations

import click

from meshploy_core.cli.common import fail


@click.command("mcp")
def mcp_cmd() -> None:
    """Serve every API operation as an MCP tool over stdio (for Claude Code and others).

    Configured by MESHPLOY_API_URL, MESHPLOY_TOKEN and MESHPLOY_ORG_ID, falling back to the
    login stored by `meshploy auth login`.
    """
    from meshploy_core.client.errors import ClientError
    from meshploy_core.mcp.server import serve_stdio

    try:
        serve_stdio()
    except ClientError as exc:
        fail(str(exc))
