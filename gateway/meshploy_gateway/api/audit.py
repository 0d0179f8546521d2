"""``/api/v1/orgs/{org_id}/audit-events``: the organization's audit log (owners, admins)."""

from __future__ import annotations

import uuid

from pydantic import AwareDatetime, Field
from quart import Blueprint
from quart_schema import validate_querystring, validate_response

from meshploy_core import audit
from meshploy_core.authorization.policy import requires
from meshploy_core.web.context import db
from meshploy_core.web.fields import NO_CONTROL
from meshploy_core.web.pagination import Page, PageQuery, page_of, page_request
from meshploy_gateway.api.models import AuditEventOut

bp = Blueprint("audit", __name__, url_prefix="/api/v1")


class AuditQuery(PageQuery):
    """Filters (all optional, combined with AND) and paging."""

    actor: uuid.UUID | None = Field(None, description="Only events by this user.")
    resource_type: str | None = Field(None, max_length=32, pattern=NO_CONTROL)
    resource_id: str | None = Field(None, max_length=64, pattern=NO_CONTROL)
    action: str | None = Field(None, max_length=64, pattern=NO_CONTROL)
    since: AwareDatetime | None = Field(None, description="Events at or after this time.")
    until: AwareDatetime | None = Field(None, description="Events before this time.")


@bp.get("/orgs/<uuid:org_id>/audit-events")
@requires("audit:read")
@validate_querystring(AuditQuery)
@validate_response(Page[AuditEventOut])
async def list_audit_events(org_id: uuid.UUID, query_args: AuditQuery) -> Page[AuditEventOut]:
    """Who did what in this organization, newest first."""
    filters = audit.AuditFilter(
        actor_user_id=query_args.actor,
        resource_type=query_args.resource_type,
        resource_id=query_args.resource_id,
        action=query_args.action,
        since=query_args.since,
        until=query_args.until,
    )
    result = await audit.list_events(db(), org_id, filters, page_request(query_args))
    return page_of(result, AuditEventOut.of)
