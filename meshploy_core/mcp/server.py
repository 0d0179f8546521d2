"""``meshploy mcp``: the MCP server over stdio, on the official MCP Python SDK (1.x).

Tools come from :mod:`meshploy_core.mcp.tools` (one per API operation). A call goes through
the typed API client with the configured token, so the API decides what is allowed: a
read-only token calling a write tool gets the API's 403 back as a tool error, with the
problem's detail in one line and the problem document after it. Configuration:
``MESHPLOY_API_URL``, ``MESHPLOY_TOKEN``, ``MESHPLOY_ORG_ID``, each falling back to the
login stored by ``meshploy auth login``. Nothing is written to stdout but the protocol.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import anyio
from mcp import types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

from meshploy_core import __version__
from meshploy_core.client import credentials
from meshploy_core.client.errors import ApiError, ClientError
from meshploy_core.client.http import ApiClient
from meshploy_core.client.operations import BY_ID
from meshploy_core.mcp.tools import tool_specs

INSTRUCTIONS = (
    "Meshploy is a self-hosted platform-as-a-service. Every tool is one REST API operation. "
    "Ids are UUIDs: find them with the list tools (list_projects, then list_services with "
    "name=..., then list_deployments). org_id defaults to the configured organization. "
    "Tools whose description starts with DESTRUCTIVE remove or replace something or change "
    "who has access: confirm with the user before calling them."
)


def tools() -> list[types.Tool]:
    """The MCP tool definitions."""
    return [
        types.Tool(
            name=spec["name"],
            title=spec["title"],
            description=spec["description"],
            inputSchema=spec["inputSchema"],
            annotations=types.ToolAnnotations(**spec["annotations"]),
        )
        for spec in tool_specs()
    ]


def error_result(text: str, problem: Mapping[str, Any] | None = None) -> types.CallToolResult:
    """A tool error: one readable line, then the API's problem document if there is one."""
    if problem:
        text += "\n" + json.dumps(problem, indent=2)
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], isError=True)


async def call(client: ApiClient, name: str, arguments: Mapping[str, Any]) -> types.CallToolResult:
    """Run tool ``name``: call its API operation and return the answer (or the error)."""
    if name not in BY_ID:
        return error_result(f"no tool named {name!r}")
    try:
        result = await client.call(name, arguments)
    except ApiError as exc:
        return error_result(exc.one_line(), exc.problem)
    except ClientError as exc:
        return error_result(str(exc))
    text = "done (no content)" if result is None else json.dumps(result, indent=2)
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)],
        structuredContent=result if isinstance(result, dict) else None,
        isError=False,
    )


def build_server(client: ApiClient) -> Server[Any, Any]:
    """The low-level MCP server with every tool, calling the API through ``client``."""
    server: Server[Any, Any] = Server("meshploy", version=__version__, instructions=INSTRUCTIONS)
    definitions = tools()

    @server.list_tools()  # type: ignore[untyped-decorator, no-untyped-call]
    async def list_tools() -> list[types.Tool]:
        return definitions

    # The SDK validates arguments against each tool's input schema before calling this.
    @server.call_tool(validate_input=True)  # type: ignore[untyped-decorator]
    async def call_tool(name: str, arguments: dict[str, Any]) -> types.CallToolResult:
        return await call(client, name, arguments)

    return server


async def serve(conn: credentials.Connection) -> None:
    """Serve MCP over this process's stdin and stdout until the client disconnects."""
    assert conn.api_url is not None
    async with ApiClient(conn.api_url, conn.token, org_id=conn.org_id) as client:
        server = build_server(client)
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())


def serve_stdio(environ: Mapping[str, str] | None = None) -> None:
    """Resolve the configuration (environment, then stored login) and serve over stdio."""
    conn = credentials.resolve(environ).require()
    anyio.run(serve, conn)
