"""Accounts: first-run bootstrap, invitations, login (bearer and cookie), CSRF, logout,
password changes and login rate limits."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from quart import Quart
from sqlalchemy import text, update

from meshploy_core.accounts.authn import client_address
from meshploy_core.app.factory import create_app
from meshploy_core.app.state import state
from meshploy_core.db.base import utcnow
from meshploy_core.organizations.models import Invitation
from meshploy_core.settings import Settings
from tests.fixtures.api import (
    PASSWORD,
    ApiClient,
    SecretTracker,
    World,
    bootstrap,
    invite,
    login,
    register,
)
from tests.fixtures.postgres import settings_for


async def test_first_user_becomes_owner_then_registration_closes(client: ApiClient) -> None:
    assert (await client.get("auth/status")).ok() == {
        "bootstrap_required": True,
        "registration": "open",
    }
    body = (await register(client, "First@Example.com", organization_name="Acme")).ok(201)
    assert body["user"]["email"] == "first@example.com"
    assert (body["organization"]["name"], body["organization"]["role"]) == ("Acme", "owner")
    assert (await client.get("auth/status")).ok()["registration"] == "invitation"
    closed = (await register(client, "second@example.com")).problem(403)
    assert closed["type"].endswith("registration-closed"), closed
    assert "invitation" in closed["detail"]


async def test_simultaneous_first_registrations_make_exactly_one_owner(
    app: Quart, secrets_tracker: SecretTracker
) -> None:
    clients = [ApiClient(app, secrets_tracker) for _ in range(3)]
    replies = await asyncio.gather(
        *(register(c, f"racer{i}@example.com") for i, c in enumerate(clients))
    )
    statuses = sorted(r.status for r in replies)
    assert statuses == [201, 403, 403], statuses
    async with state(app).session() as session:
        owners = await session.scalar(text("SELECT count(*) FROM memberships WHERE role='owner'"))
    assert owners == 1


async def test_invitation_registration_is_single_use_email_bound_and_expires(
    client: ApiClient, app: Quart
) -> None:
    owner, org = await bootstrap(client)
    token = await invite(client, owner.token, org, "dev@example.com", "developer")
    wrong_email = await register(client, "someone-else@example.com", invitation_token=token)
    assert "another email" in wrong_email.problem(403)["detail"]
    joined = (await register(client, "DEV@example.com", invitation_token=token)).ok(201)
    assert (joined["organization"]["id"], joined["organization"]["role"]) == (org, "developer")
    again = await register(client, "dev2@example.com", invitation_token=token)
    assert "already used" in again.problem(404)["detail"]

    expired = await invite(client, owner.token, org, "late@example.com", "viewer")
    async with state(app).session() as session:
        await session.execute(
            update(Invitation)
            .where(Invitation.email == "late@example.com")
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    (await register(client, "late@example.com", invitation_token=expired)).problem(404)

    revoked = await invite(client, owner.token, org, "gone@example.com", "viewer")
    listed = (await client.get(f"orgs/{org}/invitations", token=owner.token)).ok()["items"]
    statuses = {i["email"]: i["status"] for i in listed}
    assert statuses == {
        "dev@example.com": "accepted",
        "late@example.com": "expired",
        "gone@example.com": "pending",
    }
    inv_id = next(i["id"] for i in listed if i["email"] == "gone@example.com")
    (await client.delete(f"orgs/{org}/invitations/{inv_id}", token=owner.token)).ok(204)
    (await register(client, "gone@example.com", invitation_token=revoked)).problem(404)


async def test_invitation_token_is_stored_hashed(client: ApiClient, app: Quart) -> None:
    owner, org = await bootstrap(client)
    token = await invite(client, owner.token, org, "x@example.com", "viewer")
    async with state(app).session() as session:
        stored = (await session.execute(text("SELECT prefix, token_hash FROM invitations"))).one()
    assert token.startswith(stored.prefix) and token not in stored.token_hash


async def test_bearer_login_me_and_logout(client: ApiClient) -> None:
    owner, _org = await bootstrap(client)
    me = (await client.get("auth/me", token=owner.token)).ok()
    assert me["user"]["email"] == owner.email
    assert (me["credential"]["kind"], me["credential"]["via"]) == ("session", "bearer")
    assert me["csrf_token"] is None
    (await client.post("auth/logout", token=owner.token)).ok(204)
    (await client.get("auth/me", token=owner.token)).problem(401)


async def test_wrong_password_and_unknown_email_look_the_same(client: ApiClient) -> None:
    owner, _ = await bootstrap(client)
    client.tracker.add("wrong password!", "wrong password")
    bad = await client.post(
        "auth/login", json={"email": owner.email, "password": "wrong password!"}
    )
    unknown = await client.post(
        "auth/login", json={"email": "nobody@example.com", "password": "wrong password!"}
    )
    a, b = bad.problem(401), unknown.problem(401)
    assert (a["type"], a["detail"]) == (b["type"], b["detail"])
    assert a["type"].endswith("invalid-credentials")


async def test_cookie_session_has_safe_attributes_and_csrf(client: ApiClient) -> None:
    owner, _org = await bootstrap(client)
    reply = await client.post(
        "auth/login", json={"email": owner.email, "password": PASSWORD, "session": "cookie"}
    )
    body = reply.ok()
    assert body["token"] is None and body["token_type"] == "cookie" and body["csrf_token"]
    (cookie_header,) = reply.headers.getlist("Set-Cookie")
    attributes = {part.strip().split("=")[0].lower() for part in cookie_header.split(";")}
    assert {"secure", "httponly", "samesite", "path", "max-age"} <= attributes, cookie_header
    assert "samesite=lax" in cookie_header.lower()
    secret = cookie_header.split(";")[0].split("=", 1)[1]
    client.tracker.add(secret, "session cookie")
    cookie = {"Cookie": f"meshploy_session={secret}"}

    me = (await client.get("auth/me", headers=cookie)).ok()
    assert me["credential"]["via"] == "cookie" and me["csrf_token"] == body["csrf_token"]
    no_csrf = await client.post("orgs", headers=cookie, json={"name": "Via cookie"})
    assert "X-CSRF-Token" in no_csrf.problem(403)["detail"]
    wrong = await client.post(
        "orgs", headers={**cookie, "X-CSRF-Token": "x" * 43}, json={"name": "Via cookie"}
    )
    wrong.problem(403)
    csrf = {**cookie, "X-CSRF-Token": body["csrf_token"]}
    (await client.post("orgs", headers=csrf, json={"name": "Via cookie"})).ok(201)

    logout = await client.post("auth/logout", headers=csrf)
    logout.ok(204)
    cleared = logout.headers.get("Set-Cookie", "")
    assert cleared.startswith("meshploy_session=;") and "max-age=0" in cleared.lower(), cleared
    (await client.get("auth/me", headers=cookie)).problem(401)


async def test_cookie_without_secure_flag_when_configured(
    database_url: str, secrets_tracker: SecretTracker
) -> None:
    settings = settings_for(
        database_url, MESHPLOY_BCRYPT_ROUNDS="4", MESHPLOY_SECURE_COOKIES="false"
    )
    app = create_app(settings)
    async with app.test_app():
        client = ApiClient(app, secrets_tracker)
        owner, _ = await bootstrap(client)
        reply = await client.post(
            "auth/login", json={"email": owner.email, "password": PASSWORD, "session": "cookie"}
        )
        reply.ok()
        secrets_tracker.add(reply.headers["Set-Cookie"].split(";")[0].split("=", 1)[1], "cookie")
        assert "secure" not in reply.headers["Set-Cookie"].lower()


async def test_password_change_ends_other_sessions_only(client: ApiClient) -> None:
    owner, _ = await bootstrap(client)
    other_session = await login(client, owner.email)
    personal = (await client.post("tokens", token=owner.token, json={"name": "ci"})).ok(201)
    client.tracker.add(personal["secret"], "personal token")
    client.tracker.add("wrong current pw", "wrong password")
    wrong = await client.post(
        "auth/password",
        token=owner.token,
        json={"current_password": "wrong current pw", "new_password": "a new password 123"},
    )
    assert "current password" in wrong.problem(403)["detail"]
    client.tracker.add("a new password 123", "new password")
    (
        await client.post(
            "auth/password",
            token=owner.token,
            json={"current_password": PASSWORD, "new_password": "a new password 123"},
        )
    ).ok(204)
    (await client.get("auth/me", token=owner.token)).ok()
    (await client.get("auth/me", token=other_session)).problem(401)
    (await client.get("auth/me", token=personal["secret"])).ok()
    (await client.post("auth/login", json={"email": owner.email, "password": PASSWORD})).problem(
        401
    )
    await login(client, owner.email, "a new password 123")


async def test_weak_or_oversized_passwords_are_refused_without_echo(client: ApiClient) -> None:
    client.tracker.add("short", "short password")
    short = await client.post("auth/register", json={"email": "a@example.com", "password": "short"})
    body = short.problem(422)
    assert body["errors"][0]["field"] == "password" and "short" not in short.text
    long_pw = "é" * 40  # 40 characters, 80 bytes
    client.tracker.add(long_pw, "long password")
    too_long = await client.post(
        "auth/register", json={"email": "a@example.com", "password": long_pw}
    )
    assert "72 bytes" in too_long.problem(422)["detail"]


@pytest.fixture
def limited_settings(database_url: str) -> Settings:
    return settings_for(
        database_url,
        MESHPLOY_BCRYPT_ROUNDS="4",
        MESHPLOY_LOGIN_ACCOUNT_LIMIT="3",
        MESHPLOY_LOGIN_IP_LIMIT="5",
        MESHPLOY_LOGIN_WINDOW="600",
    )


async def test_login_is_rate_limited_per_account_across_processes(
    limited_settings: Settings, secrets_tracker: SecretTracker
) -> None:
    first, second = create_app(limited_settings), create_app(limited_settings)
    async with first.test_app(), second.test_app():
        a, b = ApiClient(first, secrets_tracker), ApiClient(second, secrets_tracker)
        owner, _ = await bootstrap(a)
        secrets_tracker.add("not the password", "wrong password")
        wrong = {"email": owner.email, "password": "not the password"}
        for i, client in enumerate((a, b, a)):
            (await client.post("auth/login", json=wrong, ip=f"198.51.100.{i}")).problem(401)
        # Both processes see the shared count; even the right password is refused now.
        for client in (a, b):
            limited = await client.post(
                "auth/login", json={"email": owner.email, "password": PASSWORD}, ip="198.51.100.9"
            )
            body = limited.problem(429)
            retry = int(limited.headers["Retry-After"])
            assert 0 < retry <= 600, retry
            assert body["type"].endswith("rate-limited")
        # Another account is not affected.
        other = await a.post("auth/login", json={"email": "x@example.com", "password": "nope nope"})
        other.problem(401)


async def test_login_is_rate_limited_per_address(
    limited_settings: Settings, secrets_tracker: SecretTracker
) -> None:
    app = create_app(limited_settings)
    async with app.test_app():
        client = ApiClient(app, secrets_tracker)
        owner, _ = await bootstrap(client)
        for i in range(5):
            body = {"email": f"user{i}@example.com", "password": "guessing 123"}
            (await client.post("auth/login", json=body, ip="203.0.113.7")).problem(401)
        blocked = await client.post(
            "auth/login", json={"email": owner.email, "password": PASSWORD}, ip="203.0.113.7"
        )
        blocked.problem(429)
        fine = await client.post(
            "auth/login", json={"email": owner.email, "password": PASSWORD}, ip="203.0.113.8"
        )
        secrets_tracker.add(fine.ok()["token"], "session")


def test_client_address_trusts_forwarded_for_only_from_trusted_proxies() -> None:
    import ipaddress

    trusted = [ipaddress.ip_network("10.0.0.0/8")]
    assert client_address("10.0.0.2", "203.0.113.5", trusted) == "203.0.113.5"
    assert client_address("10.0.0.2", "6.6.6.6, 203.0.113.5, 10.0.0.9", trusted) == "203.0.113.5"
    assert client_address("198.51.100.1", "203.0.113.5", trusted) == "198.51.100.1"
    assert client_address("10.0.0.2", "garbage", trusted) == "10.0.0.2"
    assert client_address("<local>", None, trusted) is None


async def test_audit_records_logins_with_address(
    client: ApiClient, world: World, app: Quart
) -> None:
    await client.post(
        "auth/login", json={"email": world.owner.email, "password": PASSWORD}, ip="192.0.2.44"
    )
    async with state(app).session() as session:
        rows = (
            await session.execute(
                text(
                    "SELECT action, host(ip) AS ip FROM audit_events "
                    "WHERE action LIKE 'user.login%'"
                )
            )
        ).all()
    assert ("user.login", "192.0.2.44") in [(r.action, r.ip) for r in rows]
