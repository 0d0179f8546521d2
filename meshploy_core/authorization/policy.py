"""Authorization in one place: permissions, the role table, and the deny-by-default check.

Every view function declares what it needs with :func:`requires` (or :func:`public`); the
declaration is recorded on the function. Before any view runs, :func:`authorize` decides:

* no declaration: refused (a route nobody thought about is never open);
* ``public``: allowed for anyone;
* otherwise the caller must be authenticated, a read-only token may only use permissions
  that do not write, and for organization permissions the caller must be a member of the
  organization named in the URL (``org_id``) whose role grants the permission. A caller who
  is not a member gets 404, so nobody learns that another organization exists.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from meshploy_core.accounts import tokens
from meshploy_core.accounts.authn import Principal
from meshploy_core.errors import NotFound, PermissionDenied, Unauthenticated
from meshploy_core.organizations import members as memberships
from meshploy_core.organizations.models import Role

F = TypeVar("F", bound=Callable[..., Any])
POLICY_ATTR = "__meshploy_policy__"
ACCOUNT, ORG = "account", "org"


@dataclass(frozen=True)
class Permission:
    """Something an operation needs. ``scope`` says what it is checked against."""

    name: str
    scope: str  # ACCOUNT (the caller's own things) or ORG (an organization in the URL)
    writes: bool
    description: str


def _p(name: str, scope: str, writes: bool, description: str) -> tuple[str, Permission]:
    return name, Permission(name, scope, writes, description)


PERMISSIONS: Mapping[str, Permission] = dict(
    [
        _p("identity:read", ACCOUNT, False, "see who you are and which credential you use"),
        _p("account:read", ACCOUNT, False, "list your own organizations and tokens"),
        _p("account:write", ACCOUNT, True, "change your account, tokens; create organizations"),
        _p("org:read", ORG, False, "see the organization"),
        _p("org:write", ORG, True, "rename the organization"),
        _p("org:delete", ORG, True, "delete the organization and everything in it"),
        _p("org:transfer", ORG, True, "transfer ownership to another member"),
        _p("member:read", ORG, False, "list members"),
        _p("invitation:read", ORG, False, "list invitations"),
        _p("member:invite", ORG, True, "create and revoke invitations"),
        _p("member:write", ORG, True, "change members' roles and remove members"),
        _p("project:read", ORG, False, "list and read projects"),
        _p("project:write", ORG, True, "create and rename projects"),
        _p("project:delete", ORG, True, "delete projects"),
        _p("agent_token:read", ORG, False, "list the organization's agent tokens"),
        _p("agent_token:write", ORG, True, "create and revoke agent tokens"),
        _p("audit:read", ORG, False, "read the organization's audit log"),
        _p("service:read", ORG, False, "list and read services (environment values masked)"),
        _p("service:write", ORG, True, "create and configure services, set their environment"),
        _p("service:delete", ORG, True, "delete services and their running workloads"),
        _p("deployment:read", ORG, False, "read deployments and their logs"),
        _p("deployment:write", ORG, True, "deploy, roll back and cancel deployments"),
        _p("service:logs", ORG, False, "read what services' containers wrote (may hold data)"),
        _p("registry:read", ORG, False, "see which private registries have credentials"),
        _p("registry:write", ORG, True, "add, change and delete registry credentials"),
        _p("job:read", ORG, False, "list and read cron jobs and their runs (env masked)"),
        _p("job:write", ORG, True, "create, configure and trigger cron jobs"),
        _p("job:delete", ORG, True, "delete cron jobs and their runs"),
        _p("job:logs", ORG, False, "read what job runs printed (may hold data)"),
        _p("variable:read", ORG, False, "list variable groups (values masked)"),
        _p("variable:write", ORG, True, "create and change variable groups, attach them"),
        _p("variable:delete", ORG, True, "delete variable groups"),
        _p("notification:read", ORG, False, "list notification channels (secrets masked)"),
        _p("notification:write", ORG, True, "add, change, test and delete channels"),
        _p("event:read", ORG, False, "read the organization's event stream"),
    ]
)

_VIEWER = frozenset(
    {
        "org:read",
        "member:read",
        "project:read",
        "service:read",
        "deployment:read",
        "registry:read",
        "job:read",
        "variable:read",
        "notification:read",
        "event:read",
    }
)
_DEVELOPER = _VIEWER | {
    "project:write",
    "service:write",
    "service:logs",
    "deployment:write",
    "job:write",
    "job:logs",
    "variable:write",
}
_ADMIN = _DEVELOPER | {
    "org:write",
    "invitation:read",
    "member:invite",
    "member:write",
    "project:delete",
    "service:delete",
    "agent_token:read",
    "agent_token:write",
    "audit:read",
    "registry:write",
    "job:delete",
    "variable:delete",
    "notification:write",
}
_OWNER = _ADMIN | {"org:delete", "org:transfer"}

#: The only account permissions an agent token has: it acts inside one organization and sees
#: nothing else of its creator's account (other organizations, tokens).
AGENT_ACCOUNT_PERMISSIONS = frozenset({"identity:read"})

#: What each role may do in its organization.
ROLE_PERMISSIONS: Mapping[str, frozenset[str]] = {
    Role.OWNER.value: _OWNER,
    Role.ADMIN.value: _ADMIN,
    Role.DEVELOPER.value: _DEVELOPER,
    Role.VIEWER.value: _VIEWER,
}


@dataclass(frozen=True)
class Policy:
    """What a view function declared: a permission, or public (``permission`` None)."""

    permission: Permission | None

    @property
    def public(self) -> bool:
        """Whether anyone, even anonymous, may call the operation."""
        return self.permission is None


PUBLIC = Policy(permission=None)


def requires(permission: str) -> Callable[[F], F]:
    """Declare that a view needs ``permission`` (a key of :data:`PERMISSIONS`).

    Put it directly under the route decorator::

        @bp.post("/orgs/<uuid:org_id>/projects")
        @requires("project:write")
        async def create_project(org_id: UUID) -> ...
    """
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}; known: {sorted(PERMISSIONS)}")
    policy = Policy(PERMISSIONS[permission])

    def mark(func: F) -> F:
        setattr(func, POLICY_ATTR, policy)
        return func

    return mark


def public(func: F) -> F:
    """Declare that a view is open to anonymous callers (login, registration, docs)."""
    setattr(func, POLICY_ATTR, PUBLIC)
    return func


def policy_of(view: Callable[..., Any] | None) -> Policy | None:
    """The policy a view function declared, or None."""
    value = getattr(view, POLICY_ATTR, None)
    return value if isinstance(value, Policy) else None


def role_allows(role: str, permission: str) -> bool:
    """Whether ``role`` grants ``permission`` in its organization."""
    return permission in ROLE_PERMISSIONS.get(role, frozenset())


@dataclass(frozen=True)
class Access:
    """The outcome of a successful check: who, and their role in the URL's organization."""

    principal: Principal | None
    org_id: uuid.UUID | None = None
    role: str | None = None


async def authorize(
    session: AsyncSession,
    policy: Policy | None,
    principal: Principal | None,
    org_id: uuid.UUID | None,
) -> Access:
    """Allow or refuse one request. Raises Unauthenticated, PermissionDenied or NotFound."""
    if policy is None:
        raise PermissionDenied("this operation declares no authorization policy, so it is refused")
    if policy.permission is None:
        return Access(principal=principal)
    perm = policy.permission
    if principal is None:
        raise Unauthenticated(
            "authentication required: send 'Authorization: Bearer <token>' or log in"
        )
    if perm.writes and principal.scope != "full":
        raise PermissionDenied(f"this token is read-only; {perm.name} needs a full-scope token")
    if perm.scope == ACCOUNT:
        if principal.kind == tokens.AGENT and perm.name not in AGENT_ACCOUNT_PERMISSIONS:
            raise PermissionDenied("agent tokens act only inside their organization")
        return Access(principal=principal)
    if org_id is None:
        raise PermissionDenied(f"{perm.name} needs an organization in the URL")
    if principal.bound_org is not None and principal.bound_org != org_id:
        raise NotFound("no such organization")
    membership = await memberships.get_membership(session, org_id, principal.user.id)
    if membership is None:
        raise NotFound("no such organization")
    if not role_allows(membership.role, perm.name):
        raise PermissionDenied(
            f"your role in this organization ({membership.role}) does not allow {perm.name}"
        )
    return Access(principal=principal, org_id=org_id, role=membership.role)
