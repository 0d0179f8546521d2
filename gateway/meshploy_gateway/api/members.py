"""Members of an organization, and invitations to join one."""

from __future__ import annotations

import uuid
from datetime import timedelta

from pydantic import Field
from quart import Blueprint
from quart_schema import validate_querystring, validate_request, validate_response
from sqlalchemy.ext.asyncio import AsyncSession

from meshploy_core.authorization.policy import requires
from meshploy_core.organizations import members as memberships
from meshploy_core.organizations import orgs as organizations
from meshploy_core.organizations.members import Member
from meshploy_core.web.context import actor, current_user, db
from meshploy_core.web.fields import Input
from meshploy_core.web.openapi import destructive, no_content, problems
from meshploy_core.web.pagination import Page, PageQuery, page_of, page_request
from meshploy_gateway.api.models import (
    AssignableRole,
    Email,
    InvitationCreated,
    InvitationOut,
    MemberOut,
    OrgOut,
    SecretToken,
)

bp = Blueprint("members", __name__, url_prefix="/api/v1")


class RoleIn(Input):
    """A member's new role (ownership moves only by transfer)."""

    role: AssignableRole


class InvitationIn(Input):
    """Who to invite, as what, and for how long the invitation stays valid."""

    email: Email
    role: AssignableRole = "developer"
    expires_in_hours: int = Field(168, ge=1, le=720)


class AcceptIn(Input):
    """The invitation token you were given."""

    token: SecretToken


def _member(item: Member) -> MemberOut:
    return MemberOut(
        user_id=item.user.id,
        email=item.user.email,
        display_name=item.user.display_name,
        role=item.membership.role,
        joined_at=item.membership.created_at,
    )


async def member_out(session: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID) -> MemberOut:
    """The member ``user_id`` of ``org_id`` as the API shows it."""
    return _member(await memberships.get_member(session, org_id, user_id))


@bp.get("/orgs/<uuid:org_id>/members")
@requires("member:read")
@validate_querystring(PageQuery)
@validate_response(Page[MemberOut])
async def list_members(org_id: uuid.UUID, query_args: PageQuery) -> Page[MemberOut]:
    """The organization's members."""
    result = await memberships.list_members(db(), org_id, page_request(query_args))
    return page_of(result, _member)


@bp.patch("/orgs/<uuid:org_id>/members/<uuid:user_id>")
@requires("member:write")
@destructive
@problems(409)
@validate_request(RoleIn)
@validate_response(MemberOut)
async def change_role(org_id: uuid.UUID, user_id: uuid.UUID, data: RoleIn) -> MemberOut:
    """Change a member's role (admin, developer or viewer)."""
    session = db()
    member = await memberships.change_role(session, actor(), org_id, user_id, data.role)
    await session.commit()
    return _member(member)


@bp.delete("/orgs/<uuid:org_id>/members/<uuid:user_id>")
@requires("member:write")
@problems(409)
@no_content
async def remove_member(org_id: uuid.UUID, user_id: uuid.UUID) -> tuple[str, int]:
    """Remove a member (not the owner); their agent tokens here are revoked. DESTRUCTIVE."""
    session = db()
    await memberships.remove_member(session, actor(), org_id, user_id)
    await session.commit()
    return "", 204


@bp.get("/orgs/<uuid:org_id>/invitations")
@requires("invitation:read")
@validate_querystring(PageQuery)
@validate_response(Page[InvitationOut])
async def list_invitations(org_id: uuid.UUID, query_args: PageQuery) -> Page[InvitationOut]:
    """The organization's invitations and their status."""
    result = await memberships.list_invitations(db(), org_id, page_request(query_args))
    return page_of(result, InvitationOut.of)


@bp.post("/orgs/<uuid:org_id>/invitations")
@requires("member:invite")
@destructive
@problems(409)
@validate_request(InvitationIn)
@validate_response(InvitationCreated, 201)
async def create_invitation(org_id: uuid.UUID, data: InvitationIn) -> tuple[InvitationCreated, int]:
    """Invite someone by email; the token in the answer is shown once."""
    session = db()
    issued = await memberships.create_invitation(
        session, actor(), org_id, data.email, data.role, timedelta(hours=data.expires_in_hours)
    )
    await session.commit()
    base = InvitationOut.of(issued.invitation)
    return InvitationCreated(**base.model_dump(), token=issued.token), 201


@bp.delete("/orgs/<uuid:org_id>/invitations/<uuid:invitation_id>")
@requires("member:invite")
@no_content
async def revoke_invitation(org_id: uuid.UUID, invitation_id: uuid.UUID) -> tuple[str, int]:
    """Revoke an invitation so its token no longer works."""
    session = db()
    await memberships.revoke_invitation(session, actor(), org_id, invitation_id)
    await session.commit()
    return "", 204


@bp.post("/invitations/accept")
@requires("account:write")
@problems(404, 409)
@validate_request(AcceptIn)
@validate_response(OrgOut)
async def accept_invitation(data: AcceptIn) -> OrgOut:
    """Join the organization an invitation (issued to your email) is for."""
    session = db()
    membership = await memberships.accept_invitation(session, actor(), current_user(), data.token)
    await session.commit()
    org = await organizations.get_org(session, membership.org_id)
    return OrgOut.of(org, membership.role)
