"""End to end: ``meshploy mcp`` spawned over stdio, driven by the MCP SDK's own client.

Every API operation is a tool with the right hints; a read tool and a write tool work; a
read-only token's write comes back as the API's error; the stored login is a fallback.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from mcp import ClientSession, StdioServerParameters, types
from mcp.client.stdio import stdio_client

from meshploy_core.client import credentials
from meshploy_core.client.http import ApiClient
from meshploy_core.client.operations import BY_ID
from tests.client.test_generated import DESTRUCTIVE
from tests.fixtures.api import SecretTracker
from tests.fixtures.cli import Cli, Owner


@asynccontextmanager
async def mcp_session(
    home: Path, env: Mapping[str, str], tracker: SecretTracker
) -> AsyncIterator[ClientSession]:
    """A client session with ``python -m meshploy_core mcp``; its stderr is checked too."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("MESHPLOY_")}
    base |= {"HOME": str(home), "XDG_CONFIG_HOME": str(home / "config")}
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "meshploy_core", "mcp"], env=base | dict(env)
    )
    errlog = home / "mcp-stderr.log"
    with errlog.open("w") as err:
        async with (
            stdio_client(params, errlog=err) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session
    tracker.check(errlog.read_text(), "the MCP server's stderr")


def _text(result: types.CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))


async def call(
    session: ClientSession, tracker: SecretTracker, name: str, args: dict[str, Any]
) -> types.CallToolResult:
    """Call a tool; its answer must not leak a secret."""
    result = await session.call_tool(name, args)
    tracker.check(_text(result), f"tool {name}")
    return result


async def test_tools_cover_every_operation_with_hints(
    cli: Cli, owner: Owner, secrets_tracker: SecretTracker
) -> None:
    env = {"MESHPLOY_API_URL": cli.api_url, "MESHPLOY_TOKEN": owner.token}
    async with mcp_session(cli.home, env, secrets_tracker) as session:
        listed = (await session.list_tools()).tools
    tools = {tool.name: tool for tool in listed}
    assert set(tools) == set(BY_ID), "every API operation is a tool, and nothing else"
    for name, tool in tools.items():
        op = BY_ID[name]
        hints = tool.annotations
        assert hints is not None
        assert hints.readOnlyHint is (not op.writes), name
        assert hints.destructiveHint is (name in DESTRUCTIVE), name
        assert tool.description is not None
        assert tool.description.startswith("DESTRUCTIVE") is (name in DESTRUCTIVE), name
        assert f"{op.method} {op.path}" in tool.description
        assert tool.inputSchema["type"] == "object"
    assert tools["list_projects"].annotations and tools["list_projects"].annotations.readOnlyHint
    for name in ("delete_project", "rollback", "cancel", "change_role", "revoke_token"):
        assert (tools[name].description or "").startswith("DESTRUCTIVE: "), name
    create = tools["create_service"].inputSchema
    assert set(create["required"]) == {"project_id", "name", "image", "port"}
    assert "org_id" in create["properties"] and "org_id" not in create["required"]
    assert create["properties"]["resources"] == {"$ref": "#/$defs/ResourcesIn"}
    assert "ResourcesIn" in create["$defs"] and "HealthCheckIn" in create["$defs"]


async def test_read_and_write_tools_and_a_read_only_token(
    cli: Cli, owner: Owner, owner_api: ApiClient, secrets_tracker: SecretTracker
) -> None:
    env = {
        "MESHPLOY_API_URL": cli.api_url,
        "MESHPLOY_TOKEN": owner.token,
        "MESHPLOY_ORG_ID": owner.org_id,
    }
    async with mcp_session(cli.home, env, secrets_tracker) as session:
        made = await call(session, secrets_tracker, "create_project", {"name": "Web"})
        assert not made.isError, _text(made)
        assert made.structuredContent and made.structuredContent["slug"] == "web"
        listed = await call(session, secrets_tracker, "list_projects", {})
        assert not listed.isError
        assert [p["slug"] for p in json.loads(_text(listed))["items"]] == ["web"]
        project_id = made.structuredContent["id"]
        svc = await call(
            session,
            secrets_tracker,
            "create_service",
            {"project_id": project_id, "name": "api", "image": "nginx:1.27", "port": 80},
        )
        assert not svc.isError, _text(svc)
        # Arguments the schema refuses never reach the API.
        refused = await call(session, secrets_tracker, "create_project", {"nam": "typo"})
        assert refused.isError and "validation" in _text(refused).lower()
        # The input schema is the API's: its constraints are checked before the call ...
        invalid = await call(
            session, secrets_tracker, "create_project", {"name": "X", "slug": "Bad_Slug"}
        )
        assert invalid.isError and "does not match" in _text(invalid)
        # ... and what only the API can know comes back as its problem.
        taken = await call(session, secrets_tracker, "create_project", {"name": "Web"})
        assert taken.isError and "(HTTP 409 conflict" in _text(taken)

    reader = await owner_api.create_token(name="claude", scope="read")
    secrets_tracker.add(reader["secret"], "read-only token")
    env["MESHPLOY_TOKEN"] = reader["secret"]
    async with mcp_session(cli.home, env, secrets_tracker) as session:
        ok = await call(session, secrets_tracker, "list_projects", {})
        assert not ok.isError, _text(ok)
        denied = await call(session, secrets_tracker, "create_project", {"name": "Nope"})
        assert denied.isError
        text = _text(denied)
        first, _, problem = text.partition("\n")
        assert "this token is read-only; project:write needs a full-scope token" in first
        assert "(HTTP 403 forbidden" in first
        assert json.loads(problem)["status"] == 403
    remaining = [p["slug"] async for p in owner_api.pages("list_projects", {})]
    assert remaining == ["web"]


async def test_falls_back_to_the_stored_login(
    cli: Cli, owner: Owner, owner_api: ApiClient, secrets_tracker: SecretTracker
) -> None:
    await owner_api.create_project(name="Stored")
    path = cli.config_dir / "credentials.json"
    credentials.save(credentials.StoredLogin(cli.api_url, owner.token, owner.org_id), path)
    async with mcp_session(cli.home, {}, secrets_tracker) as session:
        listed = await call(session, secrets_tracker, "list_projects", {})
    assert "stored" in _text(listed)


def test_without_configuration_it_says_what_to_set(cli: Cli) -> None:
    result = cli.run("mcp")
    assert result.code == 1
    assert result.err.startswith("error: not logged in: run `meshploy auth login")
