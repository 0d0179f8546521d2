"""Who is calling: bearer tokens, the dashboard's session cookie, CSRF, client address.

A request authenticates with ``Authorization: Bearer <token>`` (personal, agent or login
session tokens) or with the ``meshploy_session`` cookie set by a cookie login. Cookie
requests that change state must also send ``X-CSRF-Token``, an HMAC of the session secret
(returned at login and by ``GET /api/v1/auth/me``): another site can make the browser send the
cookie, but cannot read or compute that value.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from meshploy_core.accounts import tokens
from meshploy_core.accounts.models import ApiToken, User
from meshploy_core.errors import PermissionDenied, Unauthenticated

SESSION_COOKIE = "meshploy_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_CREDENTIAL = 256

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: the user, the credential used and how it was presented."""

    user: User
    token: ApiToken
    via: str  # "bearer" or "cookie"
    secret: str = field(repr=False)

    @property
    def scope(self) -> str:
        """``read`` or ``full``."""
        return self.token.scope

    @property
    def kind(self) -> str:
        """``personal``, ``agent`` or ``session``."""
        return self.token.kind

    @property
    def bound_org(self) -> uuid.UUID | None:
        """The only organization an agent token may act in (None for other credentials)."""
        return self.token.org_id if self.token.kind == tokens.AGENT else None


def csrf_token_for(session_secret: str) -> str:
    """The CSRF token that goes with a session (derived, so nothing extra is stored)."""
    mac = hmac.new(session_secret.encode("utf-8"), b"meshploy csrf v1", hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).decode("ascii").rstrip("=")


def _bearer(header: str) -> str:
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value or len(value) > MAX_CREDENTIAL:
        raise Unauthenticated("send the token as 'Authorization: Bearer <token>'")
    return value


async def resolve(
    session: AsyncSession, authorization: str | None, cookie: str | None
) -> Principal | None:
    """The caller, from the Authorization header (preferred) or the session cookie.

    No credentials: None. Credentials that are wrong, revoked or expired: Unauthenticated.
    """
    if authorization:
        secret = _bearer(authorization)
        found = await tokens.authenticate(session, secret)
        if found is None:
            raise Unauthenticated("the bearer token is invalid, expired or revoked")
        return Principal(user=found.user, token=found.token, via="bearer", secret=secret)
    if cookie:
        found = None
        if len(cookie) <= MAX_CREDENTIAL:
            found = await tokens.authenticate(session, cookie)
        if found is None or found.token.kind != tokens.SESSION:
            raise Unauthenticated("the session has ended; log in again")
        return Principal(user=found.user, token=found.token, via="cookie", secret=cookie)
    return None


def check_csrf(principal: Principal, method: str, header: str | None) -> None:
    """Cookie-authenticated writes need the session's CSRF token in ``X-CSRF-Token``."""
    if principal.via != "cookie" or method.upper() in SAFE_METHODS:
        return
    expected = csrf_token_for(principal.secret)
    if not header or not hmac.compare_digest(header.encode(), expected.encode()):
        raise PermissionDenied(
            f"missing or wrong {CSRF_HEADER} header; send the csrf_token given at login "
            "with every request that changes something"
        )


def client_address(
    remote: str | None, forwarded_for: str | None, trusted: Iterable[Network]
) -> str | None:
    """The client's IP address.

    ``X-Forwarded-For`` is believed only when the direct peer is a trusted proxy, and then
    only as far back as the chain stays inside trusted proxies (the right-most untrusted
    address is the client; anything left of it could be forged).
    """
    nets = tuple(trusted)

    def parse(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
        try:
            return ipaddress.ip_address(text.strip())
        except ValueError:
            return None

    peer = parse(remote or "")
    if peer is None:
        return None
    if not forwarded_for or not any(peer in net for net in nets):
        return str(peer)
    client = peer
    for hop in reversed(forwarded_for.split(",")):
        addr = parse(hop)
        if addr is None:
            break
        client = addr
        if not any(addr in net for net in nets):
            break
    return str(client)
