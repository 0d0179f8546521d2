"""API tokens: secrets shown once and stored hashed, listing, scopes, agent tokens bound to
one organization, and revocation or expiry taking effect on the very next request."""

from __future__ import annotations

from datetime import timedelta

from quart import Quart
from sqlalchemy import text, update

from meshploy_core.accounts.models import ApiToken
from meshploy_core.app.state import state
from meshploy_core.db.base import utcnow
from tests.fixtures.api import ApiClient, World, create_token


async def test_token_secret_is_shown_once_and_stored_hashed(
    client: ApiClient, world: World, app: Quart
) -> None:
    created = await create_token(client, world.owner.token, name="deploy bot", scope="full")
    assert created["secret"].startswith(created["prefix"] + "_")
    assert created["kind"] == "personal" and created["scope"] == "full"
    listed = (await client.get("tokens", token=world.owner.token)).ok()["items"]
    mine = next(t for t in listed if t["id"] == created["id"])
    assert "secret" not in mine
    assert set(mine) == {
        "id",
        "name",
        "kind",
        "scope",
        "prefix",
        "org_id",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    }
    assert mine["last_used_at"] is None and mine["expires_at"] is not None
    (await client.get("auth/me", token=created["secret"])).ok()
    listed = (await client.get("tokens", token=world.owner.token)).ok()["items"]
    assert next(t for t in listed if t["id"] == created["id"])["last_used_at"] is not None
    async with state(app).session() as session:
        stored = (
            await session.execute(
                text("SELECT token_hash FROM api_tokens WHERE id = :id"), {"id": created["id"]}
            )
        ).scalar_one()
    assert created["secret"] not in stored and len(stored) == 64


async def test_revoked_token_fails_on_the_next_request(client: ApiClient, world: World) -> None:
    created = await create_token(client, world.owner.token)
    (await client.get("orgs", token=created["secret"])).ok()
    (await client.delete(f"tokens/{created['id']}", token=world.owner.token)).ok(204)
    (await client.get("orgs", token=created["secret"])).problem(401)
    # Another user cannot see or revoke someone's token.
    other = await create_token(client, world.owner.token)
    (await client.delete(f"tokens/{other['id']}", token=world.members["admin"].token)).problem(404)


async def test_expired_token_fails_on_the_next_request(
    client: ApiClient, world: World, app: Quart
) -> None:
    created = await create_token(client, world.owner.token)
    (await client.get("orgs", token=created["secret"])).ok()
    async with state(app).session() as session:
        await session.execute(
            update(ApiToken)
            .where(ApiToken.prefix == created["prefix"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    reply = await client.get("orgs", token=created["secret"])
    assert "expired" in reply.problem(401)["detail"]


async def test_token_without_expiry(client: ApiClient, world: World) -> None:
    reply = await client.post(
        "tokens", token=world.owner.token, json={"name": "forever", "expires_in_days": None}
    )
    body = reply.ok(201)
    client.tracker.add(body["secret"], "token")
    assert body["expires_at"] is None


async def test_read_only_token_reads_but_never_writes(client: ApiClient, world: World) -> None:
    (await client.get(f"orgs/{world.org}/projects", token=world.read_token)).ok()
    denied = await client.post(
        f"orgs/{world.org}/projects", token=world.read_token, json={"name": "nope"}
    )
    assert "read-only" in denied.problem(403)["detail"]
    (await client.post("tokens", token=world.read_token, json={"name": "escalate"})).problem(403)


async def test_agent_token_is_bound_to_its_organization(client: ApiClient, world: World) -> None:
    admin = world.members["admin"]
    agent = await create_token(client, admin.token, org=world.org, name="ci", scope="full")
    assert agent["kind"] == "agent" and agent["org_id"] == world.org
    secret = agent["secret"]
    (await client.post(f"orgs/{world.org}/projects", token=secret, json={"name": "by ci"})).ok(201)
    # Its creator's role caps it: admins cannot delete the organization, nor can the agent.
    (await client.delete(f"orgs/{world.org}", token=secret)).problem(403)
    # Nothing outside its organization, even where the creator is a member.
    (await client.get(f"orgs/{world.other_org}", token=secret)).problem(404)
    # Nor anything of the creator's account but "who am I".
    for path in ("orgs", "tokens"):
        (await client.get(path, token=secret)).problem(403)
    (await client.post("tokens", token=secret, json={"name": "mint"})).problem(403)
    me = (await client.get("auth/me", token=secret)).ok()
    assert (me["credential"]["kind"], me["credential"]["org_id"]) == ("agent", world.org)
    listed = (await client.get(f"orgs/{world.org}/agent-tokens", token=world.owner.token)).ok()
    assert [t["id"] for t in listed["items"]] == [agent["id"]]
    # Removing the creator from the organization revokes their agent tokens there.
    (await client.delete(f"orgs/{world.org}/members/{admin.user_id}", token=world.owner.token)).ok(
        204
    )
    (await client.get(f"orgs/{world.org}/projects", token=secret)).problem(401)


async def test_agent_token_revocation(client: ApiClient, world: World) -> None:
    agent = await create_token(client, world.owner.token, org=world.org, name="mcp", scope="read")
    (await client.get(f"orgs/{world.org}/projects", token=agent["secret"])).ok()
    (
        await client.delete(f"orgs/{world.org}/agent-tokens/{agent['id']}", token=world.owner.token)
    ).ok(204)
    (await client.get(f"orgs/{world.org}/projects", token=agent["secret"])).problem(401)
    listed = (await client.get(f"orgs/{world.org}/agent-tokens", token=world.owner.token)).ok()
    assert listed["items"][0]["revoked_at"] is not None


async def test_malformed_authorization_headers(client: ApiClient, world: World) -> None:
    for header in ("Basic Zm9vOmJhcg==", "Bearer", "Bearer " + "x" * 300, "bearer  "):
        reply = await client.get("orgs", headers={"Authorization": header})
        reply.problem(401)
