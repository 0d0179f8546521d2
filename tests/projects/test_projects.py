"""Projects: CRUD inside an organization, DNS-label slugs unique per organization, and
cursor pagination."""

from __future__ import annotations

import pytest

from tests.fixtures.api import ApiClient, World


async def test_project_lifecycle(client: ApiClient, world: World) -> None:
    dev = world.members["developer"].token
    base = f"orgs/{world.org}/projects"
    created = (await client.post(base, token=dev, json={"name": "Web Shop", "slug": "shop"})).ok(
        201
    )
    assert (created["name"], created["slug"], created["org_id"]) == ("Web Shop", "shop", world.org)
    one = (await client.get(f"{base}/{created['id']}", token=world.members["viewer"].token)).ok()
    assert one == created
    renamed = (await client.patch(f"{base}/{created['id']}", token=dev, json={"name": "Shop"})).ok()
    assert (renamed["name"], renamed["slug"]) == ("Shop", "shop")
    patch_slug = await client.patch(f"{base}/{created['id']}", token=dev, json={"slug": "other"})
    patch_slug.problem(422)
    (await client.delete(f"{base}/{created['id']}", token=world.members["admin"].token)).ok(204)
    (await client.get(f"{base}/{created['id']}", token=dev)).problem(404)


async def test_slug_is_unique_per_org_only(client: ApiClient, world: World) -> None:
    mine = f"orgs/{world.org}/projects"
    (await client.post(mine, token=world.owner.token, json={"name": "api"})).ok(201)
    clash = await client.post(mine, token=world.owner.token, json={"name": "API", "slug": "api"})
    assert "already has a project with slug 'api'" in clash.problem(409)["detail"]
    derived = await client.post(mine, token=world.owner.token, json={"name": "API"})
    derived.problem(409)
    theirs = f"orgs/{world.other_org}/projects"
    (await client.post(theirs, token=world.outsider.token, json={"name": "api"})).ok(201)


@pytest.mark.parametrize(
    ("slug", "message"),
    [
        ("MyApp", "must be lower-case (try 'myapp')"),
        ("a" * 64, "at most 63 characters (got 64)"),
        ("my_app", "only the letters a-z, digits 0-9 and '-'"),
        ("-app", "start and end with a letter or a digit"),
        ("app-", "start and end with a letter or a digit"),
        ("", "must not be empty"),
    ],
)
async def test_bad_slugs_get_clear_errors(
    client: ApiClient, world: World, slug: str, message: str
) -> None:
    reply = await client.post(
        f"orgs/{world.org}/projects", token=world.owner.token, json={"name": "x", "slug": slug}
    )
    body = reply.problem(422)
    (error,) = body["errors"]
    assert error["field"] == "slug" and message in error["detail"], error


async def test_name_without_slug_material_needs_a_slug(client: ApiClient, world: World) -> None:
    reply = await client.post(
        f"orgs/{world.org}/projects", token=world.owner.token, json={"name": "!!!"}
    )
    assert reply.problem(422)["errors"][0]["field"] == "slug"
    ok = await client.post(
        f"orgs/{world.org}/projects", token=world.owner.token, json={"name": "Ünïcode Ök"}
    )
    assert ok.ok(201)["slug"] == "unicode-ok"


async def test_cursor_pagination_walks_every_item_once(client: ApiClient, world: World) -> None:
    base = f"orgs/{world.org}/projects"
    names = [f"p{i:02d}" for i in range(7)]
    for name in names:
        (await client.post(base, token=world.owner.token, json={"name": name})).ok(201)
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        query = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        page = (await client.get(base, token=world.owner.token, query=query)).ok()
        seen += [p["name"] for p in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert (seen, pages) == (names, 3)


@pytest.mark.parametrize(
    "query",
    [
        {"cursor": "not-a-cursor"},
        {"cursor": "WyJ4Il0"},
        {"limit": "0"},
        {"limit": "1000"},
        {"limit": "x"},
    ],
)
async def test_bad_paging_parameters_are_422(
    client: ApiClient, world: World, query: dict[str, str]
) -> None:
    reply = await client.get(f"orgs/{world.org}/projects", token=world.owner.token, query=query)
    assert reply.problem(422)["errors"], reply.text


async def test_cursor_of_another_list_is_refused(client: ApiClient, world: World) -> None:
    base = f"orgs/{world.org}/audit-events"
    page = (await client.get(base, token=world.owner.token, query={"limit": "1"})).ok()
    assert page["next_cursor"]
    reply = await client.get(
        f"orgs/{world.org}/projects", token=world.owner.token, query={"cursor": page["next_cursor"]}
    )
    assert reply.problem(422)["errors"][0]["field"] == "cursor"
