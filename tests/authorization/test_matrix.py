"""Every operation as owner, admin, developer, viewer, a member of another organization,
anonymous, a read-only token and an agent token: each answer is checked against the role
table."""

from __future__ import annotations

import re
from typing import Any

from tests.authorization.matrix_ops import OPERATIONS, PRINCIPALS, Op, account_of, expected_status
from tests.fixtures.api import ApiClient, World, create_token


def _credential(world: World, principal: str) -> str | None:
    if principal == "read-only":
        return world.read_token
    if principal == "agent":
        return str(world.extra["agent"])
    account = account_of(world, principal)
    return account.token if account else None


async def _attempt(client: ApiClient, world: World, op: Op, principal: str) -> tuple[int, str]:
    prepared: dict[str, Any] = await op.prepare(client, world, principal)
    values = {
        "org_id": world.org,
        **{k: world.extra[v] for k, v in op.params.items() if v in world.extra},
    }
    for key, ref in op.params.items():
        if ref in world.members:
            values[key] = world.members[ref].user_id
    values.update({k: v for k, v in prepared.items() if k not in ("credential", "invitation")})
    path = re.sub(r"<(?:[^:>]*:)?([^>]+)>", lambda m: str(values[m.group(1)]), op.rule)
    body = op.body(world, principal) if op.body else None
    if "invitation" in prepared:
        body = {"token": prepared["invitation"]}
    token = prepared.get("credential") or _credential(world, principal)
    reply = await client.request(op.method, path, json=body, token=token)
    if reply.status >= 400:
        reply.problem(reply.status)
    return reply.status, reply.text


async def test_every_operation_for_every_principal(client: ApiClient, world: World) -> None:
    project = (
        await client.post(
            f"orgs/{world.org}/projects", token=world.owner.token, json={"name": "Main"}
        )
    ).ok(201)
    world.extra["project"] = project["id"]
    agent = await create_token(client, world.owner.token, org=world.org, name="matrix agent")
    world.extra["agent"] = agent["secret"]
    mismatches = []
    for op in OPERATIONS:
        for principal in PRINCIPALS:
            got, text = await _attempt(client, world, op, principal)
            want = expected_status(op, principal)
            if got != want:
                mismatches.append(
                    f"{op.label} as {principal}: got {got}, want {want}: {text[:200]}"
                )
    assert not mismatches, "\n".join(mismatches)


async def test_outsider_sees_404_for_existing_and_missing_orgs_alike(
    client: ApiClient, world: World
) -> None:
    existing = await client.get(f"orgs/{world.org}", token=world.outsider.token)
    missing = await client.get(
        "orgs/00000000-0000-4000-8000-000000000000", token=world.outsider.token
    )
    a, b = existing.problem(404), missing.problem(404)
    assert (a["title"], a["detail"]) == (b["title"], b["detail"])


async def test_project_of_another_org_is_404_even_for_its_owner(
    client: ApiClient, world: World
) -> None:
    theirs = (
        await client.post(
            f"orgs/{world.other_org}/projects", token=world.outsider.token, json={"name": "B"}
        )
    ).ok(201)
    # The outsider owns B, and is also made a member of A: the project is still not in A.
    invitation = await client.post(
        f"orgs/{world.org}/invitations",
        token=world.owner.token,
        json={"email": world.outsider.email, "role": "admin"},
    )
    token = invitation.ok(201)["token"]
    client.tracker.add(token, "invitation")
    (
        await client.post("invitations/accept", token=world.outsider.token, json={"token": token})
    ).ok()
    reply = await client.get(
        f"orgs/{world.org}/projects/{theirs['id']}", token=world.outsider.token
    )
    reply.problem(404)
    reply = await client.delete(
        f"orgs/{world.org}/projects/{theirs['id']}", token=world.owner.token
    )
    reply.problem(404)
    still = await client.get(
        f"orgs/{world.other_org}/projects/{theirs['id']}", token=world.outsider.token
    )
    still.ok()
