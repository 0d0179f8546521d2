"""The audit log: every write records who, what, which resource, when and from where;
owners and admins list it per organization with filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.fixtures.api import ApiClient, World


async def test_writes_are_recorded_with_actor_resource_and_address(
    client: ApiClient, world: World
) -> None:
    dev = world.members["developer"]
    base = f"orgs/{world.org}/projects"
    project = (
        await client.post(base, token=dev.token, json={"name": "Audited"}, ip="192.0.2.10")
    ).ok(201)
    await client.patch(
        f"{base}/{project['id']}", token=dev.token, json={"name": "Renamed"}, ip="192.0.2.10"
    )
    await client.delete(f"{base}/{project['id']}", token=world.owner.token, ip="192.0.2.11")
    events = (
        await client.get(
            f"orgs/{world.org}/audit-events",
            token=world.members["admin"].token,
            query={"resource_type": "project", "resource_id": project["id"]},
        )
    ).ok()["items"]
    got = [(e["action"], e["actor_user_id"], e["ip"]) for e in events]
    assert got == [
        ("project.delete", world.owner.user_id, "192.0.2.11"),
        ("project.rename", dev.user_id, "192.0.2.10"),
        ("project.create", dev.user_id, "192.0.2.10"),
    ]
    assert events[1]["details"] == {"from": "Audited", "to": "Renamed"}
    assert all(e["org_id"] == world.org and e["actor_token_id"] for e in events)


async def test_filters_by_actor_action_and_time(client: ApiClient, world: World) -> None:
    base = f"orgs/{world.org}/audit-events"
    admin = world.members["admin"]
    mine = (await client.get(base, token=admin.token, query={"actor": admin.user_id})).ok()["items"]
    assert mine and all(e["actor_user_id"] == admin.user_id for e in mine)
    invites = (
        await client.get(base, token=admin.token, query={"action": "invitation.create"})
    ).ok()
    assert len(invites["items"]) == 3  # admin, developer, viewer were invited into org A
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert (await client.get(base, token=admin.token, query={"since": future})).ok()["items"] == []
    everything = (await client.get(base, token=admin.token, query={"until": future})).ok()["items"]
    assert len(everything) >= len(mine)
    naive = await client.get(base, token=admin.token, query={"since": "2026-01-01T00:00:00"})
    naive.problem(422)


async def test_invitations_and_member_changes_are_audited(client: ApiClient, world: World) -> None:
    base = f"orgs/{world.org}/audit-events"
    viewer = world.members["viewer"]
    await client.patch(
        f"orgs/{world.org}/members/{viewer.user_id}",
        token=world.owner.token,
        json={"role": "developer"},
    )
    events = (
        await client.get(base, token=world.owner.token, query={"resource_id": viewer.user_id})
    ).ok()["items"]
    assert [e["action"] for e in events] == ["member.role_change", "invitation.accept"]
    assert events[0]["details"] == {"from": "viewer", "to": "developer"}


async def test_other_orgs_events_are_not_listed(client: ApiClient, world: World) -> None:
    (
        await client.post(
            f"orgs/{world.other_org}/projects", token=world.outsider.token, json={"name": "b"}
        )
    ).ok(201)
    events = (await client.get(f"orgs/{world.org}/audit-events", token=world.owner.token)).ok()[
        "items"
    ]
    assert all(e["org_id"] == world.org for e in events)
    assert "project.create" not in {e["action"] for e in events}
