"""``/api/v1/orgs``: create, list, read, rename and delete organizations; transfer ownership."""

from __future__ import annotations

import uuid

from pydantic import Field
from quart import Blueprint
from quart_schema import validate_querystring, validate_request, validate_response

from meshploy_core.authorization.policy import requires
from meshploy_core.organizations import orgs as organizations
from meshploy_core.organizations.orgs import OrgWithRole
from meshploy_core.web.context import access, actor, current_user, db
from meshploy_core.web.fields import Input, Name
from meshploy_core.web.openapi import destructive, no_content, problems
from meshploy_core.web.pagination import Page, PageQuery, page_of, page_request
from meshploy_gateway.api.members import member_out
from meshploy_gateway.api.models import MemberOut, OrgOut, Slug

bp = Blueprint("orgs", __name__, url_prefix="/api/v1/orgs")


class OrgIn(Input):
    """A new organization; you become its owner."""

    name: Name
    slug: Slug | None = Field(
        None, description="Unique DNS label; derived from the name if absent."
    )


class OrgPatch(Input):
    """A new display name (the slug stays)."""

    name: Name


class TransferIn(Input):
    """The member who becomes owner (you become an admin)."""

    user_id: uuid.UUID = Field(strict=False)


def _out(item: OrgWithRole) -> OrgOut:
    return OrgOut.of(item.org, item.role)


@bp.get("")
@requires("account:read")
@validate_querystring(PageQuery)
@validate_response(Page[OrgOut])
async def list_orgs(query_args: PageQuery) -> Page[OrgOut]:
    """The organizations you belong to, with your role in each."""
    result = await organizations.list_for_user(db(), current_user().id, page_request(query_args))
    return page_of(result, _out)


@bp.post("")
@requires("account:write")
@problems(409)
@validate_request(OrgIn)
@validate_response(OrgOut, 201)
async def create_org(data: OrgIn) -> tuple[OrgOut, int]:
    """Create an organization owned by you."""
    session = db()
    org = await organizations.create_org(session, actor(), current_user().id, data.name, data.slug)
    await session.commit()
    return OrgOut.of(org, "owner"), 201


@bp.get("/<uuid:org_id>")
@requires("org:read")
@validate_response(OrgOut)
async def get_org(org_id: uuid.UUID) -> OrgOut:
    """One organization."""
    org = await organizations.get_org(db(), org_id)
    return OrgOut.of(org, access().role or "viewer")


@bp.patch("/<uuid:org_id>")
@requires("org:write")
@validate_request(OrgPatch)
@validate_response(OrgOut)
async def rename_org(org_id: uuid.UUID, data: OrgPatch) -> OrgOut:
    """Rename an organization."""
    session = db()
    org = await organizations.rename_org(session, actor(), org_id, data.name)
    await session.commit()
    return OrgOut.of(org, access().role or "viewer")


@bp.delete("/<uuid:org_id>")
@requires("org:delete")
@no_content
async def delete_org(org_id: uuid.UUID) -> tuple[str, int]:
    """Delete an organization with all its projects, members and invitations. DESTRUCTIVE."""
    session = db()
    await organizations.delete_org(session, actor(), org_id)
    await session.commit()
    return "", 204


@bp.post("/<uuid:org_id>/transfer")
@requires("org:transfer")
@destructive
@problems(409)
@validate_request(TransferIn)
@validate_response(MemberOut)
async def transfer(org_id: uuid.UUID, data: TransferIn) -> MemberOut:
    """Make another member the owner, atomically; you become an admin."""
    session = db()
    await organizations.transfer_ownership(session, actor(), org_id, data.user_id)
    await session.commit()
    return await member_out(session, org_id, data.user_id)
