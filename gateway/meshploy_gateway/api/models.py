"""Request and response models of the API (the OpenAPI document is generated from them).

Request models forbid unknown fields. Free-text fields refuse control characters (PostgreSQL
cannot store NUL, and nothing legitimate needs them). Secrets appear only in the "created"
models that return them once.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field

from meshploy_core.accounts.models import ApiToken, User
from meshploy_core.audit.models import AuditEvent
from meshploy_core.names import MAX_LABEL, label_problem
from meshploy_core.organizations.members import invitation_status
from meshploy_core.organizations.models import Invitation, Organization
from meshploy_core.projects.models import Project
from meshploy_core.web.fields import NO_CONTROL, Input, Name

EMAIL_PATTERN = r"^[^@ \x00-\x1f\x7f]+@[^@ \x00-\x1f\x7f]+\.[^@ .\x00-\x1f\x7f]+$"
LABEL_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"


def _label(value: str) -> str:
    problem = label_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _password_bytes(value: str) -> str:
    if len(value.encode("utf-8")) > 72:
        raise ValueError("must be at most 72 bytes in UTF-8")
    return value


Email = Annotated[str, Field(min_length=3, max_length=254, pattern=EMAIL_PATTERN)]
NewPassword = Annotated[
    str,
    Field(min_length=10, max_length=72, description="10+ characters, at most 72 bytes."),
    AfterValidator(_password_bytes),
]
AnyPassword = Annotated[str, Field(min_length=1, max_length=1024)]
TotpCode = Annotated[str, Field(pattern=r"^[0-9]{6}$", description="6-digit TOTP code.")]
RecoveryCodeText = Annotated[str, Field(min_length=16, max_length=40, pattern=r"^[A-Za-z0-9 -]+$")]
Slug = Annotated[
    str,
    Field(
        description="DNS label: a-z, 0-9 and '-', at most 63, starting and ending alnum.",
        json_schema_extra={"pattern": LABEL_PATTERN, "minLength": 1, "maxLength": MAX_LABEL},
    ),
    AfterValidator(_label),
]
SecretToken = Annotated[str, Field(min_length=1, max_length=256, pattern=NO_CONTROL)]
AssignableRole = Literal["admin", "developer", "viewer"]
RoleName = Literal["owner", "admin", "developer", "viewer"]


# -- Users and sessions ---------------------------------------------------------------------


class UserOut(BaseModel):
    """An account (never its password hash or two-factor secret)."""

    id: uuid.UUID
    email: str
    display_name: str
    totp_enabled: bool
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> UserOut:
        """From the row."""
        return cls(
            id=user.id,
            email=user.email,
            display_name=user.display_name,
            totp_enabled=bool(user.totp_enabled),
            created_at=user.created_at,
        )


# -- Organizations and members -------------------------------------------------------------


class OrgOut(BaseModel):
    """An organization and the caller's role in it."""

    id: uuid.UUID
    name: str
    slug: str
    role: RoleName
    created_at: datetime

    @classmethod
    def of(cls, org: Organization, role: str) -> OrgOut:
        """From the row and the caller's role."""
        return cls(id=org.id, name=org.name, slug=org.slug, role=role, created_at=org.created_at)


class MemberOut(BaseModel):
    """A member of an organization."""

    user_id: uuid.UUID
    email: str
    display_name: str
    role: RoleName
    joined_at: datetime


class InvitationOut(BaseModel):
    """An invitation (its token is never shown again)."""

    id: uuid.UUID
    email: str
    role: AssignableRole
    status: Literal["pending", "accepted", "revoked", "expired"]
    prefix: str
    created_at: datetime
    expires_at: datetime

    @classmethod
    def of(cls, inv: Invitation) -> InvitationOut:
        """From the row."""
        return cls(
            id=inv.id,
            email=inv.email,
            role=inv.role,
            status=invitation_status(inv),
            prefix=inv.prefix,
            created_at=inv.created_at,
            expires_at=inv.expires_at,
        )


class InvitationCreated(InvitationOut):
    """A new invitation with its single-use token: shown once, pass it on to the invitee."""

    token: str


# -- Tokens -----------------------------------------------------------------------------------


class TokenOut(BaseModel):
    """An API token as listed: never its secret."""

    id: uuid.UUID
    name: str
    kind: Literal["personal", "agent"]
    scope: Literal["read", "full"]
    prefix: str
    org_id: uuid.UUID | None
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, token: ApiToken) -> TokenOut:
        """From the row."""
        return cls(
            id=token.id,
            name=token.name,
            kind=token.kind,
            scope=token.scope,
            prefix=token.prefix,
            org_id=token.org_id,
            created_at=token.created_at,
            last_used_at=token.last_used_at,
            expires_at=token.expires_at,
            revoked_at=token.revoked_at,
        )


class TokenCreated(TokenOut):
    """A new token with its secret: shown once, store it now."""

    secret: str


class TokenIn(Input):
    """A new API token."""

    name: Name
    scope: Literal["read", "full"] = "full"
    expires_in_days: int | None = Field(
        90, ge=1, le=3650, description="Lifetime in days; null for a token that never expires."
    )


# -- Projects ---------------------------------------------------------------------------------


class ProjectOut(BaseModel):
    """A project."""

    id: uuid.UUID
    org_id: uuid.UUID
    name: str
    slug: str
    created_at: datetime

    @classmethod
    def of(cls, project: Project) -> ProjectOut:
        """From the row."""
        return cls(
            id=project.id,
            org_id=project.org_id,
            name=project.name,
            slug=project.slug,
            created_at=project.created_at,
        )


# -- Audit ------------------------------------------------------------------------------------


class AuditEventOut(BaseModel):
    """One audit log entry."""

    id: int
    org_id: uuid.UUID | None
    actor_user_id: uuid.UUID | None
    actor_token_id: uuid.UUID | None
    action: str
    resource_type: str
    resource_id: str | None
    ip: str | None
    details: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, event: AuditEvent) -> AuditEventOut:
        """From the row."""
        return cls(
            id=event.id,
            org_id=event.org_id,
            actor_user_id=event.actor_user_id,
            actor_token_id=event.actor_token_id,
            action=event.action,
            resource_type=event.resource_type,
            resource_id=event.resource_id,
            ip=str(event.ip) if event.ip is not None else None,
            details=dict(event.details or {}),
            created_at=event.created_at,
        )
