"""The typed client against the real API: calls, pages, errors, stored login, resolution."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from meshploy_testbed.postgres import free_port

from meshploy_core.client import credentials
from meshploy_core.client.errors import ApiError, ApiUnreachable, NotConfigured
from meshploy_core.client.http import ApiClient, normalize_base_url
from tests.fixtures.api import ServedApp
from tests.fixtures.cli import Owner


async def test_typed_calls_and_pages(owner_api: ApiClient, owner: Owner) -> None:
    created = await owner_api.create_project(name="Web", slug="web")
    assert created["slug"] == "web" and created["org_id"] == owner.org_id
    for n in range(3):
        await owner_api.create_project(name=f"P{n}")
    page = await owner_api.list_projects(limit=2)
    assert len(page["items"]) == 2 and page["next_cursor"]
    slugs = [p["slug"] async for p in owner_api.pages("list_projects", {"limit": 2})]
    assert sorted(slugs) == ["p0", "p1", "p2", "web"]
    got = await owner_api.call("get_project", {"project_id": created["id"]})
    assert got == created
    await owner_api.delete_project(project_id=created["id"])
    remaining = [p["slug"] async for p in owner_api.pages("list_projects", {})]
    assert sorted(remaining) == ["p0", "p1", "p2"]


async def test_problems_become_api_errors(owner_api: ApiClient) -> None:
    with pytest.raises(ApiError) as invalid:
        await owner_api.create_project(name="X", slug="Bad_Slug")
    err = invalid.value
    assert err.status == 422 and err.slug == "validation-failed"
    assert [e.field for e in err.errors] == ["slug"]
    assert err.request_id and err.request_id in str(err)
    assert str(err).startswith("the request body is invalid: slug:")
    with pytest.raises(ApiError) as missing:
        await owner_api.get_project(project_id="00000000-0000-0000-0000-000000000000")
    assert missing.value.status == 404 and missing.value.problem["type"].endswith("not-found")


async def test_bad_token_and_missing_org(served_api: ServedApp, owner: Owner) -> None:
    async with ApiClient(served_api.base_url, "mpt_00000000_" + "x" * 43) as bad:
        with pytest.raises(ApiError) as denied:
            await bad.me()
    assert denied.value.status == 401
    assert "x" * 43 not in str(denied.value)
    async with ApiClient(served_api.base_url, owner.token) as no_org:
        with pytest.raises(NotConfigured, match="no organization"):
            await no_org.list_projects()
        with pytest.raises(TypeError, match="takes no argument colour"):
            await no_org.call("list_orgs", {"colour": "red"})


async def test_unreachable() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with ApiClient(url, "mpt_00000000_secret") as client:
        with pytest.raises(ApiUnreachable, match="cannot reach the Meshploy API") as err:
            await client.auth_status()
    assert "secret" not in str(err.value)


def test_base_urls() -> None:
    assert normalize_base_url("https://api.example.com/api/v1/") == "https://api.example.com"
    with pytest.raises(NotConfigured):
        normalize_base_url("api.example.com")


def test_stored_login_is_private(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "meshploy" / "credentials.json"
    login = credentials.StoredLogin("http://a", "mpt_1a2b3c4d_" + "s" * 43, "org", "e@x.io")
    credentials.save(login, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert credentials.load(path) == login
    assert "s" * 43 not in repr(login) and "mpt_1a2b3c4d_" in repr(login)
    assert credentials.mask_token(login.token) == "mpt_1a2b3c4d_********"
    path.write_text("{not json")
    with pytest.raises(NotConfigured, match="damaged"):
        credentials.load(path)
    assert credentials.delete(path) and not credentials.delete(path)


def test_environment_overrides_the_stored_login_field_by_field(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    credentials.save(credentials.StoredLogin("http://a:1", "stored-token", "org-a"), path)
    conn = credentials.resolve({}, path=path)
    assert (conn.api_url, conn.token, conn.org_id) == ("http://a:1", "stored-token", "org-a")
    conn = credentials.resolve({"MESHPLOY_ORG_ID": "org-b"}, path=path)
    assert (conn.token, conn.org_id) == ("stored-token", "org-b")
    conn = credentials.resolve({"MESHPLOY_TOKEN": "env-token"}, path=path)
    assert (conn.api_url, conn.token) == ("http://a:1", "env-token")
    # The stored token is never sent to another API.
    conn = credentials.resolve({"MESHPLOY_API_URL": "http://b:2"}, path=path)
    assert (conn.api_url, conn.token, conn.org_id) == ("http://b:2", None, None)
    conn = credentials.resolve({"MESHPLOY_API_URL": "http://a:1/api/v1/"}, path=path)
    assert conn.token == "stored-token"
    with pytest.raises(NotConfigured, match="not logged in"):
        credentials.resolve({"MESHPLOY_API_URL": "http://b:2"}, path=path).require()
