"""Registry credentials through the API: normalised servers, one per server, clear errors,
write-only passwords, audited without them, invisible to other organizations."""

from __future__ import annotations

from meshploy_registries.credentials import normalize_server, registry_of

from tests.fixtures.api import ApiClient, World


def test_image_references_name_their_registry_the_way_docker_does() -> None:
    cases = {
        "nginx": "docker.io",
        "library/nginx:1.27": "docker.io",
        "acme/api": "docker.io",
        "ghcr.io/acme/api:1": "ghcr.io",
        "GHCR.io/acme/api": "ghcr.io",
        "registry.example.com:5000/team/app@sha256:" + "a" * 64: "registry.example.com:5000",
        "localhost:5000/app": "localhost:5000",
        "localhost/app": "localhost",
        "index.docker.io/library/nginx": "docker.io",
        "10.0.0.7:5000/app:v2": "10.0.0.7:5000",
        "[::1]:5000/app": "[::1]:5000",
    }
    for image, registry in cases.items():
        assert registry_of(image) == registry, image


def test_servers_are_normalised_as_people_paste_them() -> None:
    assert normalize_server("https://GHCR.io/") == "ghcr.io"
    assert normalize_server(" registry.example.com:5000 ") == "registry.example.com:5000"
    assert normalize_server("index.docker.io") == "docker.io"
    assert normalize_server("[::1]:5000") == "[::1]:5000"


def _creds(world: World) -> str:
    return f"orgs/{world.org}/registry-credentials"


async def test_create_list_update_delete(client: ApiClient, world: World) -> None:
    owner = world.owner.token
    client.tracker.add("first-pw-123", "registry password")
    client.tracker.add("second-pw-456", "registry password")
    created = (
        await client.post(
            _creds(world),
            token=owner,
            json={
                "server": "https://Registry.Example.com:5000/",
                "username": "ci",
                "password": "first-pw-123",
            },
        )
    ).ok(201)
    assert created["server"] == "registry.example.com:5000" and created["username"] == "ci"
    assert "password" not in created
    again = await client.post(
        _creds(world),
        token=owner,
        json={"server": "registry.example.com:5000", "username": "x", "password": "first-pw-123"},
    )
    assert "already has credentials for registry.example.com:5000" in again.problem(409)["detail"]
    viewer_list = (await client.get(_creds(world), token=world.members["viewer"].token)).ok()
    assert [c["server"] for c in viewer_list["items"]] == ["registry.example.com:5000"]
    one = f"{_creds(world)}/{created['id']}"
    empty = await client.patch(one, token=owner, json={})
    assert "new username, a new password, or both" in empty.problem(422)["detail"]
    updated = (await client.patch(one, token=owner, json={"password": "second-pw-456"})).ok()
    assert updated["username"] == "ci" and updated["updated_at"] > created["updated_at"]
    events = (
        await client.get(
            f"orgs/{world.org}/audit-events",
            token=owner,
            query={"resource_type": "registry_credential"},
        )
    ).ok()["items"]
    assert [e["action"] for e in events] == [
        "registry_credential.update",
        "registry_credential.create",
    ]
    assert events[0]["details"] == {"server": "registry.example.com:5000", "changed": ["password"]}
    (await client.delete(one, token=owner)).ok(204)
    assert (await client.get(_creds(world), token=owner)).ok()["items"] == []
    (await client.delete(one, token=owner)).problem(404)


async def test_bad_input_says_what_to_fix_and_stores_nothing(
    client: ApiClient, world: World
) -> None:
    owner = world.owner.token
    for server, fix in (
        ("ghcr.io/acme", "without a path"),
        ("my_registry", "not a valid host"),
        ("registry.example.com:99999", "invalid port"),
    ):
        reply = await client.post(
            _creds(world), token=owner, json={"server": server, "username": "u", "password": "p"}
        )
        assert fix in reply.problem(422)["detail"], server
    missing = await client.post(_creds(world), token=owner, json={"server": "ghcr.io"})
    missing.problem(422)
    assert (await client.get(_creds(world), token=owner)).ok()["items"] == []


async def test_other_organizations_cannot_see_or_touch_them(
    client: ApiClient, world: World
) -> None:
    created = (
        await client.post(
            _creds(world),
            token=world.owner.token,
            json={"server": "ghcr.io", "username": "bot", "password": "pw-abc-1"},
        )
    ).ok(201)
    other = (await client.post("orgs", token=world.outsider.token, json={"name": "Other"})).ok(201)
    theirs = f"orgs/{other['id']}/registry-credentials"
    assert (await client.get(theirs, token=world.outsider.token)).ok()["items"] == []
    (
        await client.patch(
            f"{theirs}/{created['id']}", token=world.outsider.token, json={"password": "x"}
        )
    ).problem(404)
    (await client.delete(f"{theirs}/{created['id']}", token=world.outsider.token)).problem(404)
