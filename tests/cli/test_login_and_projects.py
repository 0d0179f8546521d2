"""End to end: the CLI as a subprocess against the real API on real PostgreSQL.

Log in (password, two-factor, token), create and list projects as a table and as JSON,
services and their environment, a deploy without waiting, errors in one line, log out.
"""

from __future__ import annotations

import json
import stat
import time

import pyotp

from meshploy_core.client.http import ApiClient
from tests.fixtures.api import PASSWORD, SecretTracker
from tests.fixtures.cli import Cli, Owner


def _mode(path: object) -> int:
    from pathlib import Path

    assert isinstance(path, Path)
    return stat.S_IMODE(path.stat().st_mode)


async def test_login_create_and_list_projects_then_logout(
    cli: Cli, owner: Owner, secrets_tracker: SecretTracker
) -> None:
    out = (
        await cli.arun(
            "auth",
            "login",
            "--api-url",
            cli.api_url,
            "--email",
            owner.email,
            "--password-stdin",
            stdin=PASSWORD + "\n",
        )
    ).ok()
    assert f"as {owner.email} (session token)" in out
    assert owner.org_id in out, "the only organization becomes the default"
    # The stored credential: mode 0600 in a 0700 directory; its token never printed.
    assert _mode(cli.credentials_path) == 0o600
    assert _mode(cli.config_dir) == 0o700
    stored = json.loads(cli.credentials_path.read_text())
    assert stored["api_url"] == cli.api_url and stored["org_id"] == owner.org_id
    secrets_tracker.add(stored["token"], "the CLI's stored session token")

    org = (await cli.arun("org", "get", "--json")).json()
    assert org["id"] == owner.org_id and org["role"] == "owner"
    assert org["slug"] in (await cli.arun("org", "list")).ok()
    (await cli.arun("org", "delete")).error(code=2)  # destructive: the org must be named
    second = (await cli.arun("org", "create", "Org B", "--json")).json()
    assert (await cli.arun("org", "use", second["slug"])).ok().strip().endswith(second["id"])
    assert (await cli.arun("project", "list")).ok().strip() == "no projects"
    (await cli.arun("org", "delete", second["slug"])).ok()
    (await cli.arun("org", "use", owner.org_id)).ok()

    who = (await cli.arun("auth", "whoami")).ok()
    assert owner.email in who and "mps_" in who and "********" in who

    created = (await cli.arun("project", "create", "Web App", "--slug", "web")).ok()
    assert "slug" in created and "web" in created
    (await cli.arun("project", "create", "Back office")).ok()

    table = (await cli.arun("project", "list")).ok().splitlines()
    assert table[0].split()[:3] == ["ID", "NAME", "SLUG"], table
    assert any(" web " in f" {line} " for line in table[1:])
    assert len(table) == 3, table

    listed = (await cli.arun("project", "list", "--json")).json()
    assert sorted(p["slug"] for p in listed["items"]) == ["back-office", "web"]
    assert listed["next_cursor"] is None

    one = (await cli.arun("project", "get", "web", "--json")).json()
    assert one["name"] == "Web App"
    renamed = (await cli.arun("project", "rename", "web", "--name", "Web")).ok()
    assert "Web" in renamed

    # Paging: one item per page, the cursor hint on stderr, --all follows it.
    first = await cli.arun("project", "list", "--limit", "1")
    assert first.ok().count("\n") == 2 and "--cursor" in first.err
    assert (
        len((await cli.arun("project", "list", "--limit", "1", "--all", "--json")).json()["items"])
        == 2
    )

    # Errors: one line, exit 1; usage errors exit 2.
    missing = (await cli.arun("project", "get", "nope")).error()
    assert "no project 'nope'" in missing
    bad = (await cli.arun("project", "create", "x", "--slug", "Not_A_Slug")).error()
    assert "HTTP 422" in bad and "slug" in bad
    (await cli.arun("project", "create")).error(code=2)
    (await cli.arun("project", "frobnicate")).error(code=2)

    out = (await cli.arun("auth", "logout")).ok()
    assert out.strip().endswith(": session ended")
    assert not cli.credentials_path.exists()
    gone = (await cli.arun("project", "list")).error()
    assert gone.startswith("error: not logged in: run `meshploy auth login --api-url URL`")


async def test_services_env_and_deploy_without_waiting(
    cli: Cli, owner: Owner, owner_api: ApiClient
) -> None:
    await owner_api.create_project(name="Web", slug="web")
    env = {"MESHPLOY_API_URL": cli.api_url, "MESHPLOY_TOKEN": owner.token}
    made = await cli.arun(
        "service",
        "create",
        "api",
        "--project",
        "web",
        "--image",
        "nginx:1.27",
        "--port",
        "80",
        "--replicas",
        "2",
        "--env",
        "GREETING=hello",
        "--json",
        env=env,
    )
    service = made.json()
    assert service["name"] == "api" and service["replicas"] == 2
    assert service["env"] == [{"name": "GREETING", "value": "********"}]

    listed = (await cli.arun("service", "list", "--project", "web", env=env)).ok()
    assert "api" in listed and "nginx:1.27" in listed

    secrets_tracker_value = "s3cr3t-value"
    out = (
        await cli.arun(
            "service",
            "env",
            "set",
            "api",
            f"TOKEN={secrets_tracker_value}",
            "DEBUG=1",
            "--project",
            "web",
            env=env,
        )
    ).ok()
    assert secrets_tracker_value not in out and "DEBUG" in out
    (await cli.arun("service", "env", "unset", "api", "DEBUG", "--project", "web", env=env)).ok()
    names = (
        await cli.arun("service", "env", "list", "api", "--project", "web", "--json", env=env)
    ).json()
    assert sorted(v["name"] for v in names["variables"]) == ["GREETING", "TOKEN"]

    queued = (
        await cli.arun(
            "service", "deploy", "api", "--project", "web", "--no-wait", "--json", env=env
        )
    ).json()
    assert queued["status"] == "queued" and queued["image"] == "nginx:1.27"
    deployments = (
        await cli.arun(
            "deployment", "list", "--project", "web", "--service", "api", "--json", env=env
        )
    ).json()
    assert [d["id"] for d in deployments["items"]] == [queued["id"]]
    got = (await cli.arun("deployment", "get", queued["id"], "--json", env=env)).json()
    assert got["status"] == "queued"
    (await cli.arun("deployment", "logs", queued["id"], env=env)).ok()
    cancelled = (await cli.arun("deployment", "cancel", queued["id"], "--json", env=env)).json()
    assert cancelled["status"] == "cancelled"

    nothing = (await cli.arun("service", "get", "nope", "--project", "web", env=env)).error()
    assert "no service 'nope'" in nothing


async def test_login_with_two_factor_prompt(
    cli: Cli, owner: Owner, owner_api: ApiClient, secrets_tracker: SecretTracker
) -> None:
    setup = await owner_api.totp_setup()
    secrets_tracker.add(setup["secret"], "TOTP secret")
    totp = pyotp.TOTP(setup["secret"])
    # Enable with the previous step's code so that the current step's code is still unused.
    codes = await owner_api.totp_enable(code=totp.at(time.time() - 30))
    for code in codes["recovery_codes"]:
        secrets_tracker.add(code, "recovery code")

    result = await cli.arun(
        "auth",
        "login",
        "--api-url",
        cli.api_url,
        "--email",
        owner.email,
        "--password-stdin",
        stdin=f"{PASSWORD}\n{totp.now()}\n",
    )
    assert "logged in" in result.ok()
    assert "Two-factor code" in result.err
    secrets_tracker.add(json.loads(cli.credentials_path.read_text())["token"], "stored token")
    assert owner.email in (await cli.arun("auth", "whoami")).ok()

    wrong = await cli.arun(
        "auth",
        "login",
        "--api-url",
        cli.api_url,
        "--email",
        owner.email,
        "--password-stdin",
        stdin=f"{PASSWORD}\n000000\n",
    )
    assert wrong.code == 1
    prompt, error = wrong.err.strip().splitlines()
    assert prompt.startswith("Two-factor code")
    assert error.startswith("error: the two-factor code") and "HTTP 401" in error


async def test_login_with_an_agent_token_binds_its_organization(
    cli: Cli, owner: Owner, owner_api: ApiClient, secrets_tracker: SecretTracker
) -> None:
    agent = await owner_api.create_agent_token(name="ci", scope="full")
    secrets_tracker.add(agent["secret"], "agent token")
    await owner_api.create_project(name="Web", slug="web")
    out = (
        await cli.arun(
            "auth", "login", "--api-url", cli.api_url, "--token", "-", stdin=agent["secret"] + "\n"
        )
    ).ok()
    assert "agent token" in out and owner.org_id in out
    assert "web" in (await cli.arun("project", "list")).ok()
    # The environment overrides the stored login, field by field.
    other = (
        await cli.arun(
            "project", "list", env={"MESHPLOY_ORG_ID": "00000000-0000-0000-0000-000000000000"}
        )
    ).error()
    assert "HTTP 404" in other
