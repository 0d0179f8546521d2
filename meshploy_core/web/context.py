"""Per-request state for API handlers: the database session, the caller, the audit actor.

One :class:`~sqlalchemy.ext.asyncio.AsyncSession` per request, opened on first use and
closed (rolled back if not committed) when the request ends.
"""

from __future__ import annotations

import logging
import time
import uuid

from quart import Quart, Response, current_app, g, request
from sqlalchemy.ext.asyncio import AsyncSession
from werkzeug.exceptions import BadRequest

from meshploy_core.accounts import authn
from meshploy_core.accounts.authn import Principal
from meshploy_core.accounts.models import User
from meshploy_core.app.state import AppState, state
from meshploy_core.audit import Actor
from meshploy_core.authorization import policy
from meshploy_core.authorization.policy import Access
from meshploy_core.errors import Unauthenticated
from meshploy_core.settings import Settings

log = logging.getLogger("meshploy_core.web.requests")


def _state() -> AppState:
    return state(current_app)


def settings() -> Settings:
    """The app's settings."""
    return _state().settings


def db() -> AsyncSession:
    """This request's database session."""
    session = getattr(g, "meshploy_db", None)
    if session is None:
        session = _state().session()
        g.meshploy_db = session
    assert isinstance(session, AsyncSession)
    return session


def client_ip() -> str | None:
    """The caller's IP address (X-Forwarded-For only through trusted proxies)."""
    return authn.client_address(
        request.remote_addr,
        request.headers.get("X-Forwarded-For"),
        settings().trusted_proxies,
    )


def access() -> Access:
    """What the policy check established for this request."""
    value = getattr(g, "meshploy_access", None)
    assert isinstance(value, Access), "policy check did not run for this request"
    return value


def principal() -> Principal:
    """The authenticated caller (the route's policy guarantees there is one)."""
    found = access().principal
    if found is None:
        raise Unauthenticated("authentication required")
    return found


def current_user() -> User:
    """The authenticated user."""
    return principal().user


def actor() -> Actor:
    """The audit actor for this request (anonymous callers have no user)."""
    found = access().principal
    return Actor(
        user_id=found.user.id if found else None,
        token_id=found.token.id if found else None,
        ip=client_ip(),
    )


async def check_request() -> None:
    """before_request: run the policy of the matched route (deny by default)."""
    rule = request.url_rule
    if rule is None or request.endpoint is None:
        return  # no route matched: routing answers 404/405
    if request.method == "OPTIONS" and rule.provide_automatic_options:
        return
    view = current_app.view_functions.get(request.endpoint)
    declared = policy.policy_of(view)
    if declared is None:
        log.error("refused %s: route declares no authorization policy", request.endpoint)
    found = None
    if declared is not None and not declared.public:
        found = await authn.resolve(
            db(), request.headers.get("Authorization"), request.cookies.get(authn.SESSION_COOKIE)
        )
        if found is not None:
            authn.check_csrf(found, request.method, request.headers.get(authn.CSRF_HEADER))
    org_id = (request.view_args or {}).get("org_id")
    g.meshploy_access = await policy.authorize(
        db(),
        declared,
        found,
        org_id if isinstance(org_id, uuid.UUID) else None,
    )
    if found is not None:
        await db().commit()  # keep last_used_at even if the operation then fails


async def require_utf8_body() -> None:
    """before_request: a JSON body that is not UTF-8 is a client error (400), not a crash."""
    if request.method in authn.SAFE_METHODS or not request.is_json:
        return
    data = await request.get_data(cache=True, as_text=False, parse_form_data=False)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the request body is not valid UTF-8") from None


async def close_db(_exc: BaseException | None) -> None:
    """teardown_request: close the session; anything uncommitted is rolled back."""
    session = getattr(g, "meshploy_db", None)
    if session is not None:
        g.meshploy_db = None
        await session.close()


def install_request_hooks(app: Quart) -> None:
    """Policy check before each request, session cleanup after, one log line per request."""

    @app.before_request
    async def _start_clock() -> None:
        g.meshploy_started = time.perf_counter()

    app.before_request(check_request)
    app.before_request(require_utf8_body)
    app.teardown_request(close_db)

    @app.after_request
    async def _log_request(response: Response) -> Response:
        started = getattr(g, "meshploy_started", None)
        elapsed = round((time.perf_counter() - started) * 1000, 1) if started else None
        log.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={
                "fields": {
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "ms": elapsed,
                }
            },
        )
        return response
