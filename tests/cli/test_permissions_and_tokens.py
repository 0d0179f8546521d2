"""End to end: what the API refuses reaches the CLI user as one clear line.

A viewer cannot create a project, a read-only token cannot write, and a revoked token fails
on the very next call with a message that says what to do (never the token itself).
"""

from __future__ import annotations

from meshploy_core.client.http import ApiClient
from tests.fixtures.api import SecretTracker
from tests.fixtures.cli import Cli, Owner, add_member


async def test_viewer_gets_a_permission_error(
    cli: Cli, owner: Owner, owner_api: ApiClient, secrets_tracker: SecretTracker
) -> None:
    await owner_api.create_project(name="Web", slug="web")
    viewer = await add_member(cli.api_url, owner, "viewer@example.com", "viewer", secrets_tracker)
    env = {"MESHPLOY_API_URL": cli.api_url, "MESHPLOY_TOKEN": viewer}
    assert "web" in (await cli.arun("project", "list", "--org", owner.org_id, env=env)).ok()
    denied = (await cli.arun("project", "create", "Mine", "--org", owner.org_id, env=env)).error()
    assert "your role in this organization (viewer) does not allow project:write" in denied
    assert "(HTTP 403 forbidden, request " in denied
    gone = (await cli.arun("project", "delete", "web", "--org", owner.org_id, env=env)).error()
    assert "does not allow project:delete" in gone


async def test_read_only_token_cannot_write(
    cli: Cli, owner: Owner, owner_api: ApiClient, secrets_tracker: SecretTracker
) -> None:
    read = await owner_api.create_token(name="reader", scope="read")
    secrets_tracker.add(read["secret"], "read-only token")
    env = {"MESHPLOY_API_URL": cli.api_url, "MESHPLOY_TOKEN": read["secret"]}
    (await cli.arun("project", "list", "--org", owner.org_id, env=env)).ok()
    denied = (await cli.arun("project", "create", "X", "--org", owner.org_id, env=env)).error()
    assert "this token is read-only; project:write needs a full-scope token" in denied


async def test_revoked_token_fails_on_the_next_call(
    cli: Cli, owner: Owner, secrets_tracker: SecretTracker
) -> None:
    owner_env = {"MESHPLOY_API_URL": cli.api_url, "MESHPLOY_TOKEN": owner.token}
    created = await cli.arun("token", "create", "ci", "--json", env=owner_env, secrets_allowed=True)
    token = created.json()
    secrets_tracker.add(token["secret"], "the CI token")
    assert token["secret"].startswith("mpt_") and token["scope"] == "full"

    ci_env = {"MESHPLOY_API_URL": cli.api_url, "MESHPLOY_TOKEN": token["secret"]}
    assert "owner@example.com" in (await cli.arun("auth", "whoami", env=ci_env)).ok()
    tokens = (await cli.arun("token", "list", env=owner_env)).ok()
    assert "ci" in tokens and token["prefix"] in tokens

    revoked = (await cli.arun("token", "revoke", token["id"], env=owner_env)).ok()
    assert revoked.strip() == "done"
    failed = (await cli.arun("project", "list", "--org", owner.org_id, env=ci_env)).error()
    assert failed.startswith("error: the bearer token is invalid, expired or revoked")
    assert "HTTP 401 unauthenticated" in failed
    assert "log in again with `meshploy auth login`, or set MESHPLOY_TOKEN" in failed


async def test_unreachable_api_is_one_line(cli: Cli, owner: Owner) -> None:
    from meshploy_testbed.postgres import free_port

    env = {"MESHPLOY_API_URL": f"http://127.0.0.1:{free_port()}", "MESHPLOY_TOKEN": owner.token}
    failed = (await cli.arun("project", "list", "--org", owner.org_id, env=env)).error()
    assert "cannot reach the Meshploy API at http://127.0.0.1:" in failed


async def test_registry_credentials_from_the_cli_never_show_the_password(
    cli: Cli, owner: Owner, secrets_tracker: SecretTracker
) -> None:
    env = {"MESHPLOY_API_URL": cli.api_url, "MESHPLOY_TOKEN": owner.token}
    password = "ghp_registry-secret-9c1d"
    secrets_tracker.add(password, "registry password")
    created = await cli.arun(
        "registry-credential",
        "create",
        "--server",
        "https://ghcr.io",
        "--username",
        "deploy-bot",
        "--org",
        owner.org_id,
        "--json",
        stdin=password + "\n",  # prompted for, hidden, not an argument in `ps`
        env=env,
    )
    body = created.json()
    assert body["server"] == "ghcr.io" and "password" not in body
    listed = (await cli.arun("registry-credential", "list", "--org", owner.org_id, env=env)).ok()
    assert "ghcr.io" in listed and "deploy-bot" in listed
    clash = await cli.arun(
        "registry-credential",
        "create",
        "--server",
        "ghcr.io",
        "--username",
        "x",
        "--org",
        owner.org_id,
        stdin=password + "\n",
        env=env,
    )
    assert "already has credentials for ghcr.io" in clash.error()
