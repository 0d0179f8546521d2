"""RFC 9457 problem details: the one place that maps errors to HTTP statuses.

Every error answer of the API is ``application/problem+json`` with ``type``, ``title``,
``status`` and ``detail``, the request id, and for validation failures an ``errors`` list
naming each offending field. Details are the error's own message, which by the project's
rules never contains a secret; unexpected exceptions answer a generic 500 and are logged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError
from quart import Quart, Response, g, json
from quart_schema import RequestSchemaValidationError
from quart_schema.validation import QuerystringValidationError
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from meshploy_core.accounts.users import InvalidCredentials, TwoFactorRequired
from meshploy_core.errors import (
    Conflict,
    DatabaseError,
    MeshployError,
    NotFound,
    PermissionDenied,
    RateLimited,
    Unauthenticated,
    Unavailable,
    ValidationFailed,
)
from meshploy_core.organizations.registration import RegistrationClosed

log = logging.getLogger(__name__)
PROBLEM_TYPE_BASE = "urn:meshploy:problem:"
PROBLEM_CONTENT_TYPE = "application/problem+json"


@dataclass(frozen=True)
class ProblemKind:
    """The HTTP face of an error: status, ``type`` slug and ``title``."""

    status: int
    slug: str
    title: str


#: Domain error -> HTTP. Looked up along the exception's MRO, so the most specific row wins.
ERROR_TABLE: Mapping[type[MeshployError], ProblemKind] = {
    TwoFactorRequired: ProblemKind(401, "totp-required", "Two-factor code required"),
    InvalidCredentials: ProblemKind(401, "invalid-credentials", "Invalid credentials"),
    Unauthenticated: ProblemKind(401, "unauthenticated", "Authentication required"),
    RegistrationClosed: ProblemKind(403, "registration-closed", "Registration closed"),
    PermissionDenied: ProblemKind(403, "forbidden", "Forbidden"),
    NotFound: ProblemKind(404, "not-found", "Not found"),
    Conflict: ProblemKind(409, "conflict", "Conflict"),
    ValidationFailed: ProblemKind(422, "validation-failed", "Invalid request"),
    RateLimited: ProblemKind(429, "rate-limited", "Too many requests"),
    DatabaseError: ProblemKind(503, "unavailable", "Service unavailable"),
    Unavailable: ProblemKind(503, "unavailable", "Service unavailable"),
}
INTERNAL = ProblemKind(500, "internal", "Internal error")


class FieldError(BaseModel):
    """One invalid input: which field (and where), and what is wrong with it."""

    field: str
    detail: str
    pointer: str | None = None


class Problem(BaseModel):
    """An RFC 9457 problem details object."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str | None = None
    request_id: str | None = None
    errors: list[FieldError] | None = None


def kind_of(exc: MeshployError) -> ProblemKind:
    """The table row for ``exc`` (unknown Meshploy errors are internal errors)."""
    for cls in type(exc).__mro__:
        row = ERROR_TABLE.get(cls)
        if row is not None:
            return row
    return INTERNAL


def problem_response(
    kind: ProblemKind,
    detail: str | None,
    *,
    errors: list[FieldError] | None = None,
    headers: Mapping[str, str] | None = None,
    status: int | None = None,
) -> Response:
    """Render a problem as an ``application/problem+json`` response."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + kind.slug,
        "title": kind.title,
        "status": status or kind.status,
        "detail": detail,
        "request_id": getattr(g, "request_id", None),
    }
    if errors is not None:
        body["errors"] = [e.model_dump(exclude_none=True) for e in errors]
    response = Response(
        json.dumps(body), status=status or kind.status, content_type=PROBLEM_CONTENT_TYPE
    )
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _pydantic_errors(exc: ValidationError, in_body: bool) -> list[FieldError]:
    found = []
    for err in exc.errors(include_url=False, include_input=False, include_context=False):
        loc = [str(part) for part in err["loc"]]
        field = ".".join(loc) or "(body)"
        pointer = "#/" + "/".join(loc) if in_body else None
        # Our own validators raise ValueError with a complete sentence; drop pydantic's prefix.
        detail = err["msg"].removeprefix("Value error, ")
        found.append(FieldError(field=field, detail=detail, pointer=pointer))
    return found


def render_error(exc: MeshployError) -> Response:
    """The problem response for a domain error."""
    kind = kind_of(exc)
    if kind is INTERNAL:
        log.error("unmapped error %s", type(exc).__name__, exc_info=exc)
        return problem_response(kind, "an internal error occurred; quote the request id")
    headers: dict[str, str] = {}
    errors = None
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="meshploy"'
    if isinstance(exc, ValidationFailed):
        errors = [
            FieldError(field=k, detail=v, pointer="#/" + k.replace(".", "/"))
            for k, v in exc.errors.items()
        ]
    return problem_response(kind, str(exc), errors=errors, headers=headers)


def render_schema_error(exc: RequestSchemaValidationError) -> Response:
    """A request body or query string that does not fit the operation's model: 422."""
    in_body = not isinstance(exc, QuerystringValidationError)
    where = "request body" if in_body else "query string"
    inner = exc.validation_error
    errors = (
        _pydantic_errors(inner, in_body)
        if isinstance(inner, ValidationError)
        else [FieldError(field="(body)" if in_body else "(query)", detail="invalid value")]
    )
    summary = "; ".join(f"{e.field}: {e.detail}" for e in errors[:5])
    kind = ERROR_TABLE[ValidationFailed]
    return problem_response(kind, f"the {where} is invalid: {summary}", errors=errors)


def render_http_error(exc: HTTPException) -> Response:
    """Routing and protocol errors (404, 405, 413, malformed JSON ...) as problems."""
    status = exc.code or 500
    name = exc.name or "Error"
    slug = name.lower().replace(" ", "-").replace("'", "")
    detail = exc.description
    if status == 400:
        detail = (
            "the request could not be parsed; send a JSON body with Content-Type: application/json"
        )
    elif status == 404:
        detail = "no such resource"
    headers = {k: v for k, v in exc.get_headers() if k.lower() in ("allow", "retry-after")}
    return problem_response(ProblemKind(status, slug, name), detail, headers=headers)


def install_error_handlers(app: Quart) -> None:
    """Make every error answer of ``app`` a problem document."""

    @app.errorhandler(MeshployError)
    async def _domain(exc: MeshployError) -> Response:
        return render_error(exc)

    @app.errorhandler(RequestSchemaValidationError)
    async def _schema(exc: RequestSchemaValidationError) -> Response:
        return render_schema_error(exc)

    @app.errorhandler(HTTPException)
    async def _http(exc: HTTPException) -> Response:
        return render_http_error(exc)

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    @app.errorhandler(ConnectionError)
    @app.errorhandler(TimeoutError)
    async def _database(exc: Exception) -> Response:
        # Connection-level failures (not the message: it may name hosts or users).
        log.error("database unavailable: %s", type(exc).__name__)
        return problem_response(
            ERROR_TABLE[DatabaseError],
            "the database is unavailable; try again shortly",
            headers={"Retry-After": "5"},
        )

    @app.errorhandler(Exception)
    async def _internal(exc: Exception) -> Response:
        log.error("unhandled %s", type(exc).__name__, exc_info=exc)
        return problem_response(INTERNAL, "an internal error occurred; quote the request id")
