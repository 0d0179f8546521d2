"""``meshploy auth login|logout|whoami`` and ``meshploy org use``: the stored login.

``auth login`` asks for email and password (and a two-factor code when the account has
one) and stores the session token it gets, or stores an API token given with ``--token``;
either way it checks the credential with ``GET /auth/me`` first. The login lives in
``<config dir>/meshploy/credentials.json`` with mode 0600.
"""

from __future__ import annotations

import re
import sys
from dataclasses import replace
from typing import Any

import click

from meshploy_core.cli import output, resolve, session
from meshploy_core.cli.api_commands import covers
from meshploy_core.cli.common import fail
from meshploy_core.client import credentials
from meshploy_core.client.errors import ApiError, NotConfigured
from meshploy_core.client.http import ApiClient

TOTP_CODE = re.compile(r"^\d{6}$")
FROM_STDIN = "-"


def _read_stdin_line(what: str) -> str:
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        fail(f"expected the {what} on standard input")
    return line


async def _password_login(client: ApiClient, email: str, password: str, code: str | None) -> str:
    """A bearer session token for ``email``; prompts for the second factor if needed."""
    try:
        answer = await client.login(email=email, password=password, session="bearer")
    except ApiError as exc:
        if exc.slug != "totp-required":
            raise
        if code is None:
            code = str(click.prompt("Two-factor code (or a recovery code)", err=True))
            if not sys.stdin.isatty():  # the answer was not echoed: end the prompt's line
                click.echo(err=True)
        code = code.strip()
        if TOTP_CODE.match(code):
            answer = await client.login(
                email=email, password=password, totp_code=code, session="bearer"
            )
        else:
            answer = await client.login(
                email=email, password=password, recovery_code=code, session="bearer"
            )
    token = answer["token"]
    if not token:
        raise NotConfigured("the API returned no session token")
    return token


@covers("login")
@click.command("login")
@click.option("--api-url", help="The API's URL (default: MESHPLOY_API_URL or the stored one).")
@click.option(
    "--token",
    help="Log in with an API token instead of a password ('-' reads it from stdin).",
)
@click.option("--email", help="Your account's email (asked for when missing).")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
@click.option("--totp-code", help="A two-factor code (asked for when the account needs one).")
@click.option("--org", help="Default organization (id or slug) for later commands.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def login_cmd(
    api_url: str | None,
    token: str | None,
    email: str | None,
    password_stdin: bool,
    totp_code: str | None,
    org: str | None,
    as_json: bool,
) -> None:
    """Log in and store the credential (mode 0600) for later commands."""
    from meshploy_core.client.http import normalize_base_url

    base = session.connection(api_url).api_url
    if not base:
        raise click.UsageError("pass --api-url URL (or set MESHPLOY_API_URL)")
    try:
        base = normalize_base_url(base)
    except NotConfigured as exc:
        raise click.BadParameter(str(exc), param_hint="--api-url") from None
    if token == FROM_STDIN:
        token = _read_stdin_line("token")
    password = ""
    if token is None:
        email = email or click.prompt("Email", err=True)
        if password_stdin:
            password = _read_stdin_line("password")
        else:
            password = click.prompt("Password", hide_input=True, err=True)
    conn = credentials.Connection(api_url=base, token=None, org_id=None, stored=None)

    async def work(client: ApiClient) -> dict[str, Any]:
        secret = token
        if secret is None:
            assert email is not None
            secret = await _password_login(client, email, password, totp_code)
        async with ApiClient(base, secret) as authed:
            me = await authed.me()
            authed_conn = credentials.Connection(base, secret, None, None)
            org_id = me["credential"]["org_id"]
            if org:
                org_id = await resolve.org_id(authed, authed_conn, org)
            elif org_id is None and me["credential"]["kind"] != "agent":
                orgs = [o async for o in authed.pages("list_orgs", {}, limit=2)]
                org_id = orgs[0]["id"] if len(orgs) == 1 else None
        stored = credentials.StoredLogin(
            api_url=base,
            token=secret,
            org_id=org_id,
            email=me["user"]["email"],
            kind=me["credential"]["kind"],
        )
        path = credentials.save(stored)
        return {
            "api_url": base,
            "email": stored.email,
            "credential": stored.kind,
            "token": credentials.mask_token(secret),
            "org_id": org_id,
            "stored_in": str(path),
        }

    result = session.run(conn, work, token=False)
    if as_json:
        output.emit_json(result)
        return
    click.echo(f"logged in to {base} as {result['email']} ({result['credential']} token)")
    if result["org_id"]:
        click.echo(f"default organization: {result['org_id']}")
    else:
        click.echo("no default organization: choose one with `meshploy org use ORG`")
    click.echo(f"credential stored in {result['stored_in']}")


@covers("logout")
@click.command("logout")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def logout_cmd(as_json: bool) -> None:
    """End the stored login session and forget the stored credential."""
    stored = credentials.load()
    if stored is None:
        if as_json:
            output.emit_json({"logged_out": False})
        else:
            click.echo("not logged in")
        return
    ended = "the stored API token is forgotten; it stays valid until revoked"
    if stored.kind == "session":
        conn = credentials.Connection(stored.api_url, stored.token, None, stored)

        async def work(client: ApiClient) -> None:
            try:
                await client.logout()
            except ApiError as exc:
                if exc.status != 401:  # already ended or expired: nothing to end
                    raise

        session.run(conn, work)
        ended = "session ended"
    credentials.delete()
    if as_json:
        output.emit_json({"logged_out": True, "api_url": stored.api_url, "result": ended})
    else:
        click.echo(f"logged out of {stored.api_url}: {ended}")


@covers("me")
@click.command("whoami")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def whoami_cmd(as_json: bool) -> None:
    """Who you are logged in as, with which credential (the token is masked)."""
    conn = session.connection()

    async def work(client: ApiClient) -> dict[str, Any]:
        me = await client.me()
        assert conn.token is not None
        return {
            "api_url": client.base_url,
            "user": dict(me["user"]),
            "credential": dict(me["credential"]),
            "token": credentials.mask_token(conn.token),
            "org_id": conn.org_id,
        }

    result = session.run(conn, work)
    if as_json:
        output.emit_json(result)
        return
    cred = result["credential"]
    click.echo(f"{result['user']['email']} on {result['api_url']}")
    click.echo(
        f"credential: {cred['kind']} token {result['token']}, scope {cred['scope']}, "
        f"expires {output.cell(cred['expires_at']) if cred['expires_at'] else 'never'}"
    )
    click.echo(f"organization: {result['org_id'] or '(none chosen)'}")


@click.command("use")
@click.argument("org")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def org_use_cmd(org: str, as_json: bool) -> None:
    """Make ORG (id or slug) the default organization of the stored login."""
    stored = credentials.load()
    if stored is None:
        fail("not logged in: run `meshploy auth login` first (or set MESHPLOY_ORG_ID)")
    conn = credentials.Connection(stored.api_url, stored.token, None, stored)

    async def work(client: ApiClient) -> str:
        return await resolve.org_id(client, conn, org)

    org_id = session.run(conn, work)
    credentials.save(replace(stored, org_id=org_id))
    if as_json:
        output.emit_json({"org_id": org_id})
    else:
        click.echo(f"default organization: {org_id}")
