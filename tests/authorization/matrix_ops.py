"""The operations of the authorization matrix: every API route, with what it needs and how to
call it. ``tests/api/test_routes.py`` checks that this list covers every route the app serves.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tests.fixtures.api import Account, ApiClient, World, create_token, invite, login

_counter = itertools.count()

Prepare = Callable[[ApiClient, World, str], Awaitable[dict[str, Any]]]
Body = Callable[[World, str], Any]

PUBLIC, ACCOUNT, ORG = "public", "account", "org"
ALL_ROLES = frozenset({"owner", "admin", "developer", "viewer"})
ADMINS = frozenset({"owner", "admin"})
WRITERS = frozenset({"owner", "admin", "developer"})


def unique(prefix: str) -> str:
    """A name no other attempt uses."""
    return f"{prefix}-{next(_counter)}"


def account_of(world: World, principal: str) -> Account | None:
    """The account behind a matrix principal (the read-only token belongs to the owner)."""
    if principal in world.members:
        return world.members[principal]
    if principal == "outsider":
        return world.outsider
    if principal in ("read-only", "agent"):
        return world.owner
    return None


async def _nothing(_c: ApiClient, _w: World, _p: str) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Op:
    """One operation: route, what it needs, and the status an allowed caller gets."""

    method: str
    rule: str
    kind: str
    allowed: frozenset[str] = ALL_ROLES
    writes: bool = False
    status: int = 200
    body: Body | None = None
    prepare: Prepare = _nothing
    params: dict[str, str] = field(default_factory=dict)
    #: False when the target is a fresh organization rather than organization A.
    in_org_a: bool = True

    @property
    def label(self) -> str:
        """``METHOD rule``."""
        return f"{self.method} {self.rule}"


# -- prepare helpers: each builds a fresh target so allowed attempts cannot disturb others ----


async def fresh_org(client: ApiClient, world: World, _p: str) -> dict[str, Any]:
    """A new organization owned by the world's owner with admin, developer and viewer members."""
    owner = world.owner
    org = (await client.post("orgs", token=owner.token, json={"name": unique("Org")})).ok(201)["id"]
    for role in ("admin", "developer", "viewer"):
        member = world.members[role]
        invitation = await invite(client, owner.token, org, member.email, role)
        (
            await client.post("invitations/accept", token=member.token, json={"token": invitation})
        ).ok()
    return {"org_id": org}


async def fresh_member(client: ApiClient, world: World, _p: str) -> dict[str, Any]:
    """A new viewer in organization A (a target to remove)."""
    from tests.fixtures.api import join

    member = await join(
        client, world.owner.token, world.org, f"{unique('m')}@example.com", "viewer"
    )
    return {"user_id": member.user_id}


async def fresh_invitation(client: ApiClient, world: World, _p: str) -> dict[str, Any]:
    """A pending invitation in organization A."""
    reply = await client.post(
        f"orgs/{world.org}/invitations",
        token=world.owner.token,
        json={"email": f"{unique('i')}@example.com", "role": "viewer"},
    )
    body = reply.ok(201)
    client.tracker.add(body["token"], "invitation")
    return {"invitation_id": body["id"]}


async def fresh_project(client: ApiClient, world: World, _p: str) -> dict[str, Any]:
    """A new project in organization A."""
    reply = await client.post(
        f"orgs/{world.org}/projects", token=world.owner.token, json={"name": unique("victim")}
    )
    return {"project_id": reply.ok(201)["id"]}


async def fresh_agent_token(client: ApiClient, world: World, _p: str) -> dict[str, Any]:
    """A new agent token of organization A."""
    body = await create_token(client, world.owner.token, org=world.org, name=unique("agent"))
    return {"token_id": body["id"]}


async def own_token(client: ApiClient, world: World, principal: str) -> dict[str, Any]:
    """A personal token of the caller (the owner's for callers without an account)."""
    account = account_of(world, principal) or world.owner
    body = await create_token(client, account.token, name=unique("own"))
    return {"token_id": body["id"]}


async def fresh_session(client: ApiClient, world: World, principal: str) -> dict[str, Any]:
    """A new login session of the caller, used as the credential (logout ends it)."""
    account = account_of(world, principal)
    if account is None or principal in ("read-only", "agent"):
        return {}  # they log out with their own token (and are refused)
    return {"credential": await login(client, account.email, account.password)}


async def invitation_for_caller(client: ApiClient, world: World, principal: str) -> dict[str, Any]:
    """An invitation to a new organization, issued to the caller's email."""
    account = account_of(world, principal) or world.owner
    inviter = world.outsider if account is not world.outsider else world.owner
    org = (await client.post("orgs", token=inviter.token, json={"name": unique("Inv")})).ok(201)
    token = await invite(client, inviter.token, org["id"], account.email, "viewer")
    return {"invitation": token}


async def fresh_service(client: ApiClient, world: World, _p: str) -> dict[str, Any]:
    """A new service in the main project of organization A (its env value is a secret)."""
    project = world.extra["project"]
    secret = unique("env-secret-value-")
    client.tracker.add(secret, "environment value")
    reply = await client.post(
        f"orgs/{world.org}/projects/{project}/services",
        token=world.owner.token,
        json={"name": unique("svc"), "image": "nginx:1.27", "port": 80, "env": {"S": secret}},
    )
    return {"project_id": project, "service_id": reply.ok(201)["id"]}


async def fresh_deployment(client: ApiClient, world: World, principal: str) -> dict[str, Any]:
    """A queued deployment of a new service (no worker runs in API tests)."""
    ids = await fresh_service(client, world, principal)
    reply = await client.post(
        f"orgs/{world.org}/projects/{ids['project_id']}/services/{ids['service_id']}/deploy",
        token=world.owner.token,
        json={},
    )
    return {**ids, "deployment_id": reply.ok(202)["id"]}


async def fresh_registry_credential(client: ApiClient, world: World, _p: str) -> dict[str, Any]:
    """Credentials for a new registry host in organization A (the password is a secret)."""
    password = unique("registry-password-")
    client.tracker.add(password, "registry password")
    reply = await client.post(
        f"orgs/{world.org}/registry-credentials",
        token=world.owner.token,
        json={"server": f"{unique('reg')}.example.com", "username": "bot", "password": password},
    )
    return {"credential_id": reply.ok(201)["id"]}


async def fresh_job(client: ApiClient, world: World, _p: str) -> dict[str, Any]:
    """A new cron job in the main project (its env value is a secret)."""
    project = world.extra["project"]
    secret = unique("job-env-secret-")
    client.tracker.add(secret, "job environment value")
    reply = await client.post(
        f"orgs/{world.org}/projects/{project}/jobs",
        token=world.owner.token,
        json={**_job_spec(world, ""), "name": unique("job"), "env": {"S": secret}},
    )
    return {"project_id": project, "job_id": reply.ok(201)["id"]}


async def fresh_run(client: ApiClient, world: World, principal: str) -> dict[str, Any]:
    """A manual run (pending: no worker runs in API tests) of a new job."""
    ids = await fresh_job(client, world, principal)
    reply = await client.post(
        f"orgs/{world.org}/projects/{ids['project_id']}/jobs/{ids['job_id']}/trigger",
        token=world.owner.token,
    )
    return {**ids, "run_id": reply.ok(202)["id"]}


async def fresh_group(client: ApiClient, world: World, _p: str) -> dict[str, Any]:
    """A new variable group of organization A (its value is a secret)."""
    secret = unique("group-secret-")
    client.tracker.add(secret, "variable group value")
    reply = await client.post(
        f"orgs/{world.org}/variable-groups",
        token=world.owner.token,
        json={"name": unique("group"), "variables": {"S": secret}},
    )
    return {"group_id": reply.ok(201)["id"]}


async def fresh_channel(client: ApiClient, world: World, _p: str) -> dict[str, Any]:
    """A webhook channel (to a closed loopback port) whose signing secret is a secret."""
    secret = unique("whsec-matrix-channel-")
    client.tracker.add(secret, "webhook channel secret")
    reply = await client.post(
        f"orgs/{world.org}/notification-channels",
        token=world.owner.token,
        json={
            "name": unique("channel"),
            "kind": "webhook",
            "config": {"url": "http://127.0.0.1:9/hook", "secret": secret},
            "verify": False,
        },
    )
    return {"channel_id": reply.ok(201)["id"]}


def _job_spec(_w: World, _p: str) -> dict[str, Any]:
    return {"schedule": "0 3 * * *", "image": "busybox:1.36"}


def _new_channel(_w: World, _p: str) -> dict[str, Any]:
    return {
        "name": unique("new-channel"),
        "kind": "slack",
        "config": {"url": "http://127.0.0.1:9/services/x"},
        "verify": False,
    }


def _new_registry(_w: World, _p: str) -> dict[str, Any]:
    return {"server": f"{unique('r')}.example.com:5000", "username": "ci", "password": "pw-x1"}


def _service_spec(_w: World, _p: str) -> dict[str, Any]:
    return {"image": "nginx:1.28", "port": 8080, "replicas": 2}


V1 = "/api/v1"
IN_ORG = f"{V1}/orgs/<uuid:org_id>"
SERVICES = f"{IN_ORG}/projects/<uuid:project_id>/services"
SERVICE = f"{SERVICES}/<uuid:service_id>"
DEPLOYMENT = f"{IN_ORG}/deployments/<uuid:deployment_id>"
JOBS = f"{IN_ORG}/projects/<uuid:project_id>/jobs"
JOB = f"{JOBS}/<uuid:job_id>"
GROUPS = f"{IN_ORG}/variable-groups"
CHANNELS = f"{IN_ORG}/notification-channels"
CHANNEL = f"{CHANNELS}/<uuid:channel_id>"

OPERATIONS: tuple[Op, ...] = (
    # Public
    Op("GET", f"{V1}/auth/status", PUBLIC),
    Op(
        "POST",
        f"{V1}/auth/login",
        PUBLIC,
        body=lambda w, _p: {"email": w.owner.email, "password": w.owner.password},
    ),
    Op(
        "POST",
        f"{V1}/auth/register",
        PUBLIC,
        status=403,  # set up already: closed without an invitation, for everyone
        body=lambda _w, _p: {"email": f"{unique('r')}@example.com", "password": "x" * 12},
    ),
    # The caller's own account
    Op("GET", f"{V1}/auth/me", ACCOUNT),
    Op("GET", f"{V1}/orgs", ACCOUNT),
    Op("GET", f"{V1}/tokens", ACCOUNT),
    Op(
        "POST",
        f"{V1}/orgs",
        ACCOUNT,
        writes=True,
        status=201,
        body=lambda _w, _p: {"name": unique("New")},
    ),
    Op(
        "POST",
        f"{V1}/tokens",
        ACCOUNT,
        writes=True,
        status=201,
        body=lambda _w, _p: {"name": unique("t")},
    ),
    Op(
        "DELETE",
        f"{V1}/tokens/<uuid:token_id>",
        ACCOUNT,
        writes=True,
        status=204,
        prepare=own_token,
    ),
    Op(
        "POST",
        f"{V1}/auth/password",
        ACCOUNT,
        writes=True,
        status=204,
        body=lambda w, _p: {"current_password": w.owner.password, "new_password": w.owner.password},
    ),
    Op("POST", f"{V1}/auth/totp/setup", ACCOUNT, writes=True),
    # After setup: a wrong code is refused on its merits (authorization passed).
    Op(
        "POST",
        f"{V1}/auth/totp/enable",
        ACCOUNT,
        writes=True,
        status=422,
        body=lambda _w, _p: {"code": "000000"},
    ),
    # Two-factor is not on: refused on its merits.
    Op(
        "POST",
        f"{V1}/auth/totp/recovery-codes",
        ACCOUNT,
        writes=True,
        status=409,
        body=lambda _w, _p: {"code": "000000"},
    ),
    Op(
        "POST",
        f"{V1}/auth/totp/disable",
        ACCOUNT,
        writes=True,
        status=409,
        body=lambda w, _p: {"password": w.owner.password, "code": "000000"},
    ),
    Op(
        "POST",
        f"{V1}/invitations/accept",
        ACCOUNT,
        writes=True,
        prepare=invitation_for_caller,
        body=lambda _w, _p: None,  # filled from prepare
    ),
    Op("POST", f"{V1}/auth/logout", ACCOUNT, writes=True, status=204, prepare=fresh_session),
    # Organization A
    Op("GET", IN_ORG, ORG),
    Op("PATCH", IN_ORG, ORG, ADMINS, writes=True, body=lambda _w, _p: {"name": unique("Renamed")}),
    Op(
        "DELETE",
        IN_ORG,
        ORG,
        frozenset({"owner"}),
        writes=True,
        status=204,
        prepare=fresh_org,
        in_org_a=False,
    ),
    Op(
        "POST",
        f"{IN_ORG}/transfer",
        ORG,
        frozenset({"owner"}),
        writes=True,
        prepare=fresh_org,
        body=lambda w, _p: {"user_id": w.members["admin"].user_id},
        in_org_a=False,
    ),
    Op("GET", f"{IN_ORG}/members", ORG),
    Op(
        "PATCH",
        f"{IN_ORG}/members/<uuid:user_id>",
        ORG,
        ADMINS,
        writes=True,
        body=lambda _w, _p: {"role": "viewer"},
        params={"user_id": "viewer"},
    ),
    Op(
        "DELETE",
        f"{IN_ORG}/members/<uuid:user_id>",
        ORG,
        ADMINS,
        writes=True,
        status=204,
        prepare=fresh_member,
    ),
    Op("GET", f"{IN_ORG}/invitations", ORG, ADMINS),
    Op(
        "POST",
        f"{IN_ORG}/invitations",
        ORG,
        ADMINS,
        writes=True,
        status=201,
        body=lambda _w, _p: {"email": f"{unique('inv')}@example.com", "role": "developer"},
    ),
    Op(
        "DELETE",
        f"{IN_ORG}/invitations/<uuid:invitation_id>",
        ORG,
        ADMINS,
        writes=True,
        status=204,
        prepare=fresh_invitation,
    ),
    Op("GET", f"{IN_ORG}/projects", ORG),
    Op(
        "POST",
        f"{IN_ORG}/projects",
        ORG,
        WRITERS,
        writes=True,
        status=201,
        body=lambda _w, _p: {"name": unique("p")},
    ),
    Op("GET", f"{IN_ORG}/projects/<uuid:project_id>", ORG, params={"project_id": "project"}),
    Op(
        "PATCH",
        f"{IN_ORG}/projects/<uuid:project_id>",
        ORG,
        WRITERS,
        writes=True,
        body=lambda _w, _p: {"name": unique("renamed")},
        params={"project_id": "project"},
    ),
    Op(
        "DELETE",
        f"{IN_ORG}/projects/<uuid:project_id>",
        ORG,
        ADMINS,
        writes=True,
        status=204,
        prepare=fresh_project,
    ),
    Op("GET", f"{IN_ORG}/agent-tokens", ORG, ADMINS),
    Op(
        "POST",
        f"{IN_ORG}/agent-tokens",
        ORG,
        ADMINS,
        writes=True,
        status=201,
        body=lambda _w, _p: {"name": unique("a")},
    ),
    Op(
        "DELETE",
        f"{IN_ORG}/agent-tokens/<uuid:token_id>",
        ORG,
        ADMINS,
        writes=True,
        status=204,
        prepare=fresh_agent_token,
    ),
    Op("GET", f"{IN_ORG}/audit-events", ORG, ADMINS),
    # Registry credentials
    Op("GET", f"{IN_ORG}/registry-credentials", ORG),
    Op(
        "POST",
        f"{IN_ORG}/registry-credentials",
        ORG,
        ADMINS,
        writes=True,
        status=201,
        body=_new_registry,
    ),
    Op(
        "PATCH",
        f"{IN_ORG}/registry-credentials/<uuid:credential_id>",
        ORG,
        ADMINS,
        writes=True,
        body=lambda _w, _p: {"password": "rotated-pw"},
        prepare=fresh_registry_credential,
    ),
    Op(
        "DELETE",
        f"{IN_ORG}/registry-credentials/<uuid:credential_id>",
        ORG,
        ADMINS,
        writes=True,
        status=204,
        prepare=fresh_registry_credential,
    ),
    # Services and deployments
    Op("GET", SERVICES, ORG, params={"project_id": "project"}),
    Op(
        "POST",
        SERVICES,
        ORG,
        WRITERS,
        writes=True,
        status=201,
        body=lambda _w, _p: {"name": unique("new"), "image": "nginx:1.27", "port": 80},
        params={"project_id": "project"},
    ),
    Op("GET", SERVICE, ORG, prepare=fresh_service),
    Op("PUT", SERVICE, ORG, WRITERS, writes=True, body=_service_spec, prepare=fresh_service),
    Op("DELETE", SERVICE, ORG, ADMINS, writes=True, status=204, prepare=fresh_service),
    Op("GET", f"{SERVICE}/env", ORG, prepare=fresh_service),
    Op(
        "PATCH",
        f"{SERVICE}/env",
        ORG,
        WRITERS,
        writes=True,
        body=lambda _w, _p: {"set": {"MODE": "x"}, "unset": ["S"]},
        prepare=fresh_service,
    ),
    Op(
        "POST",
        f"{SERVICE}/deploy",
        ORG,
        WRITERS,
        writes=True,
        status=202,
        body=lambda _w, _p: {},
        prepare=fresh_service,
    ),
    Op("GET", f"{SERVICE}/deployments", ORG, prepare=fresh_service),
    # No cluster configured for API tests: allowed callers get the 503 that says so.
    Op("GET", f"{SERVICE}/logs", ORG, WRITERS, status=503, prepare=fresh_service),
    Op("GET", DEPLOYMENT, ORG, prepare=fresh_deployment),
    Op("GET", f"{DEPLOYMENT}/logs", ORG, prepare=fresh_deployment),
    # The target is still queued (no worker here): refused on its merits after authorization.
    Op(
        "POST",
        f"{DEPLOYMENT}/rollback",
        ORG,
        WRITERS,
        writes=True,
        status=409,
        prepare=fresh_deployment,
    ),
    Op("POST", f"{DEPLOYMENT}/cancel", ORG, WRITERS, writes=True, prepare=fresh_deployment),
    # Cron jobs: authorized like services (logs like service logs).
    Op("GET", JOBS, ORG, params={"project_id": "project"}),
    Op(
        "POST",
        JOBS,
        ORG,
        WRITERS,
        writes=True,
        status=201,
        body=lambda w, p: {**_job_spec(w, p), "name": unique("new-job")},
        params={"project_id": "project"},
    ),
    Op("GET", JOB, ORG, prepare=fresh_job),
    Op("PUT", JOB, ORG, WRITERS, writes=True, body=_job_spec, prepare=fresh_job),
    Op("DELETE", JOB, ORG, ADMINS, writes=True, status=204, prepare=fresh_job),
    Op("GET", f"{JOB}/env", ORG, prepare=fresh_job),
    Op(
        "PATCH",
        f"{JOB}/env",
        ORG,
        WRITERS,
        writes=True,
        body=lambda _w, _p: {"set": {"MODE": "x"}, "unset": ["S"]},
        prepare=fresh_job,
    ),
    Op("POST", f"{JOB}/trigger", ORG, WRITERS, writes=True, status=202, prepare=fresh_job),
    Op("GET", f"{JOB}/runs", ORG, prepare=fresh_job),
    Op("GET", f"{JOB}/runs/<uuid:run_id>", ORG, prepare=fresh_run),
    Op("GET", f"{JOB}/runs/<uuid:run_id>/logs", ORG, WRITERS, prepare=fresh_run),
    # Variable groups
    Op("GET", GROUPS, ORG),
    Op(
        "POST",
        GROUPS,
        ORG,
        WRITERS,
        writes=True,
        status=201,
        body=lambda _w, _p: {"name": unique("g"), "variables": {"A": "1"}},
    ),
    Op("GET", f"{GROUPS}/<uuid:group_id>", ORG, prepare=fresh_group),
    Op(
        "PATCH",
        f"{GROUPS}/<uuid:group_id>",
        ORG,
        WRITERS,
        writes=True,
        body=lambda _w, _p: {"set": {"B": "2"}},
        prepare=fresh_group,
    ),
    Op(
        "DELETE",
        f"{GROUPS}/<uuid:group_id>",
        ORG,
        ADMINS,
        writes=True,
        status=204,
        prepare=fresh_group,
    ),
    Op(
        "PUT",
        f"{SERVICE}/variable-groups",
        ORG,
        WRITERS,
        writes=True,
        body=lambda _w, _p: {"groups": []},
        prepare=fresh_service,
    ),
    Op("GET", f"{SERVICE}/effective-env", ORG, prepare=fresh_service),
    # Notification channels and the event stream
    Op("GET", CHANNELS, ORG),
    Op("POST", CHANNELS, ORG, ADMINS, writes=True, status=201, body=_new_channel),
    Op("GET", CHANNEL, ORG, prepare=fresh_channel),
    Op(
        "PATCH",
        CHANNEL,
        ORG,
        ADMINS,
        writes=True,
        body=lambda _w, _p: {"events": ["deployment.failed"]},
        prepare=fresh_channel,
    ),
    Op("DELETE", CHANNEL, ORG, ADMINS, writes=True, status=204, prepare=fresh_channel),
    # The receiver is down: the test send answers 200 with delivered false.
    Op("POST", f"{CHANNEL}/test", ORG, ADMINS, writes=True, prepare=fresh_channel),
    Op("GET", f"{CHANNEL}/deliveries", ORG, prepare=fresh_channel),
    Op("GET", f"{IN_ORG}/events", ORG),
)

PRINCIPALS = (
    "owner",
    "admin",
    "developer",
    "viewer",
    "outsider",
    "anonymous",
    "read-only",
    "agent",
)
#: Account operations an agent token (bound to organization A, created by its owner) may use.
AGENT_ACCOUNT_OPS = frozenset({"GET /api/v1/auth/me"})


def expected_status(op: Op, principal: str) -> int:
    """What ``principal`` must get from ``op``."""
    if op.kind == PUBLIC:
        return op.status
    if principal == "anonymous":
        return 401
    if principal == "read-only" and op.writes:
        return 403
    if op.kind == ACCOUNT:
        if principal == "agent" and op.label not in AGENT_ACCOUNT_OPS:
            return 403
        return op.status
    if principal == "outsider" or (principal == "agent" and not op.in_org_a):
        return 404
    role = "owner" if principal in ("read-only", "agent") else principal
    return op.status if role in op.allowed else 403
