"""TOTP two-factor: enrolment, login with a code, replay refusal, recovery codes, disabling;
the secret is encrypted at rest and recovery codes are stored hashed."""

from __future__ import annotations

import time

import pyotp
from quart import Quart
from sqlalchemy import text

from meshploy_core.app.state import state
from tests.fixtures.api import PASSWORD, Account, ApiClient, bootstrap


def code(secret: str, steps_ahead: int = 0) -> str:
    """The TOTP code ``steps_ahead`` 30-second steps from now."""
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


async def enrol(client: ApiClient, owner: Account) -> tuple[str, list[str]]:
    setup = (await client.post("auth/totp/setup", token=owner.token)).ok()
    secret = setup["secret"]
    client.tracker.add(secret, "totp secret")
    assert setup["otpauth_uri"].startswith("otpauth://totp/") and secret in setup["otpauth_uri"]
    assert not (await client.get("auth/me", token=owner.token)).ok()["user"]["totp_enabled"]
    wrong = await client.post("auth/totp/enable", token=owner.token, json={"code": "000000"})
    assert wrong.problem(422)["errors"][0]["field"] == "code"
    enabled = await client.post("auth/totp/enable", token=owner.token, json={"code": code(secret)})
    codes: list[str] = enabled.ok()["recovery_codes"]
    for i, c in enumerate(codes):
        client.tracker.add(c, f"recovery code {i}")
    assert len(codes) == 10 and len(set(codes)) == 10
    assert (await client.get("auth/me", token=owner.token)).ok()["user"]["totp_enabled"]
    return secret, codes


async def test_totp_login_replay_and_recovery_codes(client: ApiClient, app: Quart) -> None:
    owner, _ = await bootstrap(client)
    secret, codes = await enrol(client, owner)
    creds = {"email": owner.email, "password": PASSWORD}

    needed = (await client.post("auth/login", json=creds)).problem(401)
    assert needed["type"].endswith("totp-required")
    (await client.post("auth/login", json={**creds, "totp_code": "123456"})).problem(401)
    # The enrolment used the current step; the next step's code is fresh.
    fresh = code(secret, 1)
    token = (await client.post("auth/login", json={**creds, "totp_code": fresh})).ok()["token"]
    client.tracker.add(token, "session")
    replay = await client.post("auth/login", json={**creds, "totp_code": fresh})
    assert replay.problem(401)["type"].endswith("invalid-credentials")

    recovery = {**creds, "recovery_code": codes[0].upper().replace("-", " ")}
    token = (await client.post("auth/login", json=recovery)).ok()["token"]
    client.tracker.add(token, "session")
    (await client.post("auth/login", json=recovery)).problem(401)

    async with state(app).session() as session:
        raw = (await session.execute(text("SELECT totp_secret FROM users"))).scalar_one()
        hashes = (
            await session.execute(text("SELECT code_hash, used_at FROM recovery_codes"))
        ).all()
    assert raw.startswith("mp1:") and secret not in raw
    assert len(hashes) == 10 and sum(1 for h in hashes if h.used_at) == 1
    assert not any(c.replace("-", "") in h.code_hash for c in codes for h in hashes)


async def test_regenerate_and_disable(client: ApiClient) -> None:
    owner, _ = await bootstrap(client)
    secret, old_codes = await enrol(client, owner)
    again = await client.post("auth/totp/setup", token=owner.token)
    again.problem(409)
    new = await client.post(
        "auth/totp/recovery-codes", token=owner.token, json={"code": code(secret, 1)}
    )
    new_codes = new.ok()["recovery_codes"]
    for i, c in enumerate(new_codes):
        client.tracker.add(c, f"new recovery code {i}")
    creds = {"email": owner.email, "password": PASSWORD}
    (await client.post("auth/login", json={**creds, "recovery_code": old_codes[1]})).problem(401)

    client.tracker.add("bad password!", "wrong password")
    bad = await client.post(
        "auth/totp/disable",
        token=owner.token,
        json={"password": "bad password!", "recovery_code": new_codes[0]},
    )
    bad.problem(403)
    (
        await client.post(
            "auth/totp/disable",
            token=owner.token,
            json={"password": PASSWORD, "recovery_code": new_codes[0]},
        )
    ).ok(204)
    token = (await client.post("auth/login", json=creds)).ok()["token"]
    client.tracker.add(token, "session")
    assert not (await client.get("auth/me", token=token)).ok()["user"]["totp_enabled"]
