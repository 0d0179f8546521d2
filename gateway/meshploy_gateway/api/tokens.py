"""Personal API tokens (``/api/v1/tokens``) and organization agent tokens.

Agent tokens are for CI, automation and the MCP server: bound to one organization, they act
with the role their creator has there (capped by their scope) and cannot manage the
creator's account.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from quart import Blueprint
from quart_schema import validate_querystring, validate_request, validate_response

from meshploy_core.accounts import tokens
from meshploy_core.authorization.policy import requires
from meshploy_core.db.base import utcnow
from meshploy_core.web.context import actor, current_user, db
from meshploy_core.web.openapi import destructive, no_content
from meshploy_core.web.pagination import Page, PageQuery, page_of, page_request
from meshploy_gateway.api.models import TokenCreated, TokenIn, TokenOut

bp = Blueprint("tokens", __name__, url_prefix="/api/v1")


async def _create(data: TokenIn, kind: str, org_id: uuid.UUID | None) -> TokenCreated:
    session = db()
    expires = utcnow() + timedelta(days=data.expires_in_days) if data.expires_in_days else None
    issued = await tokens.create_token(
        session,
        actor(),
        user_id=current_user().id,
        kind=kind,
        name=data.name,
        scope=data.scope,
        org_id=org_id,
        expires_at=expires,
    )
    await session.commit()
    return TokenCreated(**TokenOut.of(issued.token).model_dump(), secret=issued.secret)


@bp.get("/tokens")
@requires("account:read")
@validate_querystring(PageQuery)
@validate_response(Page[TokenOut])
async def list_tokens(query_args: PageQuery) -> Page[TokenOut]:
    """Your personal API tokens (never their secrets)."""
    result = await tokens.list_personal(db(), current_user().id, page_request(query_args))
    return page_of(result, TokenOut.of)


@bp.post("/tokens")
@requires("account:write")
@destructive
@validate_request(TokenIn)
@validate_response(TokenCreated, 201)
async def create_token(data: TokenIn) -> tuple[TokenCreated, int]:
    """Create a personal API token; its secret is in this answer only."""
    return await _create(data, tokens.PERSONAL, None), 201


@bp.delete("/tokens/<uuid:token_id>")
@requires("account:write")
@no_content
async def revoke_token(token_id: uuid.UUID) -> tuple[str, int]:
    """Revoke one of your personal tokens; it fails from the next request on."""
    session = db()
    await tokens.revoke_personal(session, actor(), current_user().id, token_id)
    await session.commit()
    return "", 204


@bp.get("/orgs/<uuid:org_id>/agent-tokens")
@requires("agent_token:read")
@validate_querystring(PageQuery)
@validate_response(Page[TokenOut])
async def list_agent_tokens(org_id: uuid.UUID, query_args: PageQuery) -> Page[TokenOut]:
    """The organization's agent tokens."""
    result = await tokens.list_agent(db(), org_id, page_request(query_args))
    return page_of(result, TokenOut.of)


@bp.post("/orgs/<uuid:org_id>/agent-tokens")
@requires("agent_token:write")
@destructive
@validate_request(TokenIn)
@validate_response(TokenCreated, 201)
async def create_agent_token(org_id: uuid.UUID, data: TokenIn) -> tuple[TokenCreated, int]:
    """Create an agent token for this organization; its secret is in this answer only."""
    return await _create(data, tokens.AGENT, org_id), 201


@bp.delete("/orgs/<uuid:org_id>/agent-tokens/<uuid:token_id>")
@requires("agent_token:write")
@no_content
async def revoke_agent_token(org_id: uuid.UUID, token_id: uuid.UUID) -> tuple[str, int]:
    """Revoke an agent token of this organization."""
    session = db()
    await tokens.revoke_agent(session, actor(), org_id, token_id)
    await session.commit()
    return "", 204
