"""Organizations and members: create, list, rename, delete; roles; exactly one owner;
atomic ownership transfer; membership of several organizations."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from quart import Quart
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from meshploy_core.app.state import state
from meshploy_core.organizations.models import Membership
from tests.fixtures.api import ApiClient, SecretTracker, World


async def test_create_list_rename_delete(client: ApiClient, world: World) -> None:
    token = world.members["developer"].token
    created = (await client.post("orgs", token=token, json={"name": "Side Project!"})).ok(201)
    assert (created["slug"], created["role"]) == ("side-project", "owner")
    explicit = await client.post("orgs", token=token, json={"name": "X", "slug": "side-project"})
    assert "already exists" in explicit.problem(409)["detail"]
    derived = (await client.post("orgs", token=token, json={"name": "Side project"})).ok(201)
    assert derived["slug"].startswith("side-project-") and derived["slug"] != created["slug"]
    listed = (await client.get("orgs", token=token)).ok()["items"]
    assert {(o["name"], o["role"]) for o in listed} == {
        ("Org A", "developer"),
        ("Side Project!", "owner"),
        ("Side project", "owner"),
    }
    renamed = await client.patch(f"orgs/{created['id']}", token=token, json={"name": "Renamed"})
    assert renamed.ok()["name"] == "Renamed" and renamed.ok()["slug"] == "side-project"
    (await client.delete(f"orgs/{created['id']}", token=token)).ok(204)
    (await client.get(f"orgs/{created['id']}", token=token)).problem(404)


async def test_org_slug_must_be_a_dns_label(client: ApiClient, world: World) -> None:
    reply = await client.post(
        "orgs", token=world.owner.token, json={"name": "A", "slug": "Bad_Slug"}
    )
    error = reply.problem(422)["errors"][0]
    assert error["field"] == "slug" and "lower-case" in error["detail"]


async def test_roles_change_and_owner_is_protected(client: ApiClient, world: World) -> None:
    admin, viewer, owner = world.members["admin"], world.members["viewer"], world.owner
    path = f"orgs/{world.org}/members"
    promoted = await client.patch(
        f"{path}/{viewer.user_id}", token=admin.token, json={"role": "admin"}
    )
    assert promoted.ok()["role"] == "admin"
    to_owner = await client.patch(
        f"{path}/{viewer.user_id}", token=owner.token, json={"role": "owner"}
    )
    to_owner.problem(422)
    demote_owner = await client.patch(
        f"{path}/{owner.user_id}", token=admin.token, json={"role": "viewer"}
    )
    assert "transferring ownership" in demote_owner.problem(409)["detail"]
    remove_owner = await client.delete(f"{path}/{owner.user_id}", token=admin.token)
    assert "transfer ownership" in remove_owner.problem(409)["detail"]
    missing = await client.patch(
        f"{path}/{uuid.uuid4()}", token=owner.token, json={"role": "viewer"}
    )
    missing.problem(404)
    (await client.delete(f"{path}/{viewer.user_id}", token=admin.token)).ok(204)
    (await client.get(f"orgs/{world.org}", token=viewer.token)).problem(404)
    members = (await client.get(path, token=owner.token)).ok()["items"]
    assert sorted(m["role"] for m in members) == ["admin", "developer", "owner"]


async def test_ownership_transfer_is_atomic_and_exclusive(
    client: ApiClient, world: World, app: Quart
) -> None:
    owner, dev = world.owner, world.members["developer"]
    path = f"orgs/{world.org}/transfer"
    (await client.post(path, token=owner.token, json={"user_id": world.outsider.user_id})).problem(
        404
    )
    (await client.post(path, token=owner.token, json={"user_id": owner.user_id})).problem(409)
    moved = (await client.post(path, token=owner.token, json={"user_id": dev.user_id})).ok()
    assert (moved["user_id"], moved["role"]) == (dev.user_id, "owner")
    roles = {
        m["user_id"]: m["role"]
        for m in (await client.get(f"orgs/{world.org}/members", token=dev.token)).ok()["items"]
    }
    assert (roles[owner.user_id], roles[dev.user_id]) == ("admin", "owner")
    assert list(roles.values()).count("owner") == 1
    # The former owner lost the owner-only permissions on the very next request.
    (await client.delete(f"orgs/{world.org}", token=owner.token)).problem(403)

    # The database itself refuses a second owner, whatever the code does.
    async with state(app).session() as session:
        session.add(
            Membership(
                id=uuid.uuid4(),
                org_id=uuid.UUID(world.org),
                user_id=uuid.UUID(world.members["viewer"].user_id),
                role="owner",
            )
        )
        with pytest.raises(IntegrityError, match="memberships"):
            await session.flush()


async def test_users_can_belong_to_several_organizations(client: ApiClient, world: World) -> None:
    outsider = world.outsider
    reply = await client.post(
        f"orgs/{world.org}/invitations",
        token=world.owner.token,
        json={"email": outsider.email, "role": "viewer"},
    )
    invitation = reply.ok(201)["token"]
    client.tracker.add(invitation, "invitation")
    joined = await client.post(
        "invitations/accept", token=outsider.token, json={"token": invitation}
    )
    assert (joined.ok()["id"], joined.ok()["role"]) == (world.org, "viewer")
    orgs = (await client.get("orgs", token=outsider.token)).ok()["items"]
    assert {(o["id"], o["role"]) for o in orgs} == {
        (world.org, "viewer"),
        (world.other_org, "owner"),
    }
    # Invitations for members already in the organization are refused.
    again = await client.post(
        f"orgs/{world.org}/invitations",
        token=world.owner.token,
        json={"email": outsider.email, "role": "viewer"},
    )
    again.problem(409)


async def test_deleting_an_org_removes_its_data_but_keeps_its_audit_record(
    client: ApiClient, world: World, app: Quart
) -> None:
    owner = world.owner
    org = (await client.post("orgs", token=owner.token, json={"name": "Doomed"})).ok(201)["id"]
    (await client.post(f"orgs/{org}/projects", token=owner.token, json={"name": "p"})).ok(201)
    (await client.delete(f"orgs/{org}", token=owner.token)).ok(204)
    async with state(app).session() as session:
        projects = await session.scalar(
            text("SELECT count(*) FROM projects WHERE org_id = :o"), {"o": org}
        )
        record = (
            await session.execute(
                text("SELECT org_id, details FROM audit_events WHERE action = 'org.delete'")
            )
        ).one()
    assert projects == 0
    assert record.org_id is None and record.details["org_id"] == org


async def test_concurrent_transfers_leave_exactly_one_owner(
    app: Quart, world: World, secrets_tracker: SecretTracker
) -> None:
    path = f"orgs/{world.org}/transfer"
    targets = [world.members["admin"], world.members["developer"]]
    clients = [ApiClient(app, secrets_tracker) for _ in targets]
    replies = await asyncio.gather(
        *(
            c.post(path, token=world.owner.token, json={"user_id": t.user_id})
            for c, t in zip(clients, targets, strict=True)
        )
    )
    assert sorted(r.status for r in replies) == [200, 403], [r.text for r in replies]
    async with state(app).session() as session:
        owners = (
            (
                await session.execute(
                    text(
                        "SELECT user_id::text FROM memberships WHERE org_id = :o AND role = 'owner'"
                    ),
                    {"o": world.org},
                )
            )
            .scalars()
            .all()
        )
    winner = next(t for t, r in zip(targets, replies, strict=True) if r.status == 200)
    assert owners == [winner.user_id]
