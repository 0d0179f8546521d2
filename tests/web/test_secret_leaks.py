"""No password, token secret, TOTP secret, recovery code or sealed value ever appears in a
response (other than the one that issues it), a log line, an error message, or the database
in plaintext.

Every API test scans as it goes (see tests/fixtures/api.py); these tests prove the scanner
works and drive every kind of secret through the API at once.
"""

from __future__ import annotations

import json
import time

import pyotp
from quart import Blueprint, Quart
from sqlalchemy import text

from meshploy_core.accounts.secrets import issue_token
from meshploy_core.app.factory import create_app
from meshploy_core.app.state import state
from meshploy_core.authorization.policy import public
from meshploy_core.plugins import hookimpl
from meshploy_core.plugins.manager import PluginManager
from meshploy_core.settings import Settings
from tests.fixtures.api import PASSWORD, ApiClient, LogCapture, SecretTracker, World, create_token


def test_scanner_finds_planted_secrets_and_ciphertext() -> None:
    tracker = SecretTracker()
    tracker.add("hunter2-hunter2", "password")
    assert tracker.find('{"x": "...hunter2-hunter2..."}') == ["password"]
    assert tracker.find("value mp1:0123456789abcdef:QUJDREVGR0hJSktMTU5PUA") == ["ciphertext"]
    assert tracker.find("nothing to see") == []


async def test_every_kind_of_secret_stays_out_of_answers_logs_and_database(
    client: ApiClient, world: World, app: Quart
) -> None:
    owner = world.owner
    personal = await create_token(client, owner.token, name="personal")
    agent = await create_token(client, owner.token, name="agent", org=world.org)
    invitation = await client.post(
        f"orgs/{world.org}/invitations", token=owner.token, json={"email": "n@example.com"}
    )
    client.tracker.add(invitation.ok(201)["token"], "invitation")
    setup = (await client.post("auth/totp/setup", token=owner.token)).ok()
    client.tracker.add(setup["secret"], "totp secret")
    totp = pyotp.TOTP(setup["secret"])
    codes = (
        await client.post("auth/totp/enable", token=owner.token, json={"code": totp.now()})
    ).ok()["recovery_codes"]
    for i, c in enumerate(codes):
        client.tracker.add(c, f"recovery code {i}")
    login = await client.post(
        "auth/login",
        json={
            "email": owner.email,
            "password": PASSWORD,
            "session": "cookie",
            "totp_code": totp.at(time.time() + 30),
        },
    )
    cookie_secret = login.headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
    client.tracker.add(cookie_secret, "session cookie")
    client.tracker.add(login.ok()["csrf_token"], "csrf token")
    registry_pw, rotated_pw = "registry-pw-5f1e9c", "registry-pw-rotated-77d2"
    client.tracker.add(registry_pw, "registry password")
    client.tracker.add(rotated_pw, "rotated registry password")
    cred = await client.post(
        f"orgs/{world.org}/registry-credentials",
        token=owner.token,
        json={"server": "ghcr.io", "username": "bot", "password": registry_pw},
    )
    await client.patch(
        f"orgs/{world.org}/registry-credentials/{cred.ok(201)['id']}",
        token=owner.token,
        json={"password": rotated_pw},
    )
    await client.post(  # refused: the error must not echo the password either
        f"orgs/{world.org}/registry-credentials",
        token=owner.token,
        json={"server": "bad_host!", "username": "bot", "password": registry_pw},
    )

    # Jobs, variable groups and notification channels: every value they seal.
    job_secret, group_secret = "job-env-secret-0a9b8c", "group-value-secret-7d6e5f"
    slack_url = "http://127.0.0.1:9/services/T1/B2/slack-url-secret-3c4d"
    hook_secret, smtp_password = "whsec-leak-test-0123456789", "smtp-password-secret-1e2f"
    for value, label in (
        (job_secret, "job env value"),
        (group_secret, "variable group value"),
        (slack_url, "slack webhook url"),
        ("slack-url-secret-3c4d", "slack webhook token"),
        (hook_secret, "webhook secret"),
        (smtp_password, "smtp password"),
    ):
        client.tracker.add(value, label)
    project = (
        await client.post(f"orgs/{world.org}/projects", token=owner.token, json={"name": "P"})
    ).ok(201)["id"]
    jobs = f"orgs/{world.org}/projects/{project}/jobs"
    job = await client.post(
        jobs,
        token=owner.token,
        json={"name": "j", "schedule": "@daily", "image": "busybox", "env": {"T": job_secret}},
    )
    job_id = job.ok(201)["id"]
    await client.post(
        f"orgs/{world.org}/variable-groups",
        token=owner.token,
        json={"name": "shared", "variables": {"G": group_secret}},
    )
    channel_bodies = [
        {"name": "slack", "kind": "slack", "config": {"url": slack_url}},
        {
            "name": "hook",
            "kind": "webhook",
            "config": {"url": "http://127.0.0.1:9/hook", "secret": hook_secret},
        },
        {
            "name": "mail",
            "kind": "email",
            "config": {
                "host": "127.0.0.1",
                "port": 9,
                "sender": "a@example.com",
                "to": ["b@example.com"],
                "username": "u",
                "password": smtp_password,
            },
        },
    ]
    for body in channel_bodies:
        verified = await client.post(  # unreachable: refused, and the error echoes nothing
            f"orgs/{world.org}/notification-channels", token=owner.token, json=body
        )
        verified.problem(422)
        made = await client.post(
            f"orgs/{world.org}/notification-channels",
            token=owner.token,
            json={**body, "verify": False},
        )
        channel_id = made.ok(201)["id"]
        await client.post(
            f"orgs/{world.org}/notification-channels/{channel_id}/test", token=owner.token
        )
        await client.get(
            f"orgs/{world.org}/notification-channels/{channel_id}/deliveries", token=owner.token
        )
    await client.post(f"{jobs}/{job_id}/trigger", token=owner.token)
    for path in (jobs, f"{jobs}/{job_id}", f"{jobs}/{job_id}/env", f"{jobs}/{job_id}/runs"):
        await client.get(path, token=owner.token)

    # Read everything there is to read, with every kind of credential, and fail on purpose.
    for credential in (owner.token, personal["secret"], agent["secret"], world.read_token):
        for path in (
            "auth/me",
            "orgs",
            "tokens",
            f"orgs/{world.org}",
            f"orgs/{world.org}/members",
            f"orgs/{world.org}/invitations",
            f"orgs/{world.org}/agent-tokens",
            f"orgs/{world.org}/audit-events",
            f"orgs/{world.org}/projects",
            f"orgs/{world.org}/registry-credentials",
            f"orgs/{world.org}/variable-groups",
            f"orgs/{world.org}/notification-channels",
            f"orgs/{world.org}/events",
        ):
            await client.get(path, token=credential)
    await client.post("auth/login", json={"email": owner.email, "password": PASSWORD})
    await client.post("auth/login", json={"email": owner.email, "password": PASSWORD + "x"})
    await client.post(
        "auth/password",
        token=owner.token,
        json={"current_password": PASSWORD + "x", "new_password": PASSWORD},
    )
    await client.post("invitations/accept", token=owner.token, json={"token": personal["secret"]})
    await client.get("orgs", token=personal["secret"] + "x")

    # Nothing in the database is a secret in plaintext.
    async with state(app).session() as session:
        tables = (
            (
                await session.execute(
                    text("SELECT tablename FROM pg_tables WHERE schemaname='public'")
                )
            )
            .scalars()
            .all()
        )
        dump: list[str] = []
        for table in tables:
            rows = await session.execute(text(f'SELECT row_to_json(t)::text FROM "{table}" t'))
            dump += rows.scalars().all()
    everything = "\n".join(dump)
    leaked = [label for value, label in client.tracker.secrets.items() if value in everything]
    assert leaked == [], f"stored in plaintext: {leaked}"
    assert "mp1:" in everything, "the TOTP secret should be stored sealed"


class Exploding:
    """A plugin whose route fails with a secret in the exception message."""

    def __init__(self, secret: str) -> None:
        self.secret = secret

    @hookimpl
    def register_routes(self, app: Quart) -> None:
        bp = Blueprint("exploding", __name__)
        secret = self.secret

        @bp.get("/api/v1/explode")
        @public
        async def explode() -> str:
            raise RuntimeError(f"failed while using {secret}")

        app.register_blueprint(bp)


async def test_internal_errors_never_echo_and_logs_redact_secrets(
    api_settings: Settings, captured_logs: LogCapture
) -> None:
    planted = issue_token("mpt").secret
    app = create_app(api_settings, PluginManager.load(extra=[("exploding", Exploding(planted))]))
    tracker = SecretTracker()
    tracker.add(planted, "planted token")
    async with app.test_app():
        reply = await ApiClient(app, tracker).get("explode")
    body = reply.problem(500)
    assert body["detail"] == "an internal error occurred; quote the request id"
    assert planted not in reply.text
    json_lines = [json.dumps(line) for line in captured_logs.lines]
    assert any("RuntimeError" in line for line in json_lines), "the failure must be logged"
    assert not any(planted in line for line in json_lines), "JSON log lines must redact tokens"


def test_secret_holding_objects_do_not_show_secrets_in_repr() -> None:
    from meshploy_core.accounts.models import ApiToken
    from meshploy_core.accounts.tokens import IssuedApiToken
    from meshploy_core.accounts.twofactor import TotpSetup
    from meshploy_core.organizations.members import IssuedInvitation
    from meshploy_core.organizations.models import Invitation

    secret = issue_token("mpt").secret
    objects = [
        issue_token("mpt"),
        IssuedApiToken(token=ApiToken(), secret=secret),
        IssuedInvitation(invitation=Invitation(), token=secret),
        TotpSetup(secret=secret, uri=f"otpauth://totp/x?secret={secret}"),
    ]
    for obj in objects:
        assert secret not in repr(obj), type(obj).__name__
    assert "secret" not in repr(objects[0]).split("(", 1)[1]
