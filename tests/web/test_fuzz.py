"""Property-based: arbitrary and nearly-valid request bodies never cause a 5xx, and every
refusal is a well-formed problem document."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures.api import ApiClient, Reply, World

SETTINGS = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=80)
    | st.text(alphabet=st.characters(codec="utf-8"), min_size=60, max_size=400)
    | st.sampled_from(
        ["", " ", "\x00", "owner", "admin", "read", "full", "a@b.co", "-x-", "A" * 64]
    )
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)

# Each body-taking operation and its field names (so generated bodies are often nearly valid).
OPERATIONS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "register": (
        "POST",
        "auth/register",
        ("email", "password", "display_name", "organization_name", "invitation_token"),
    ),
    "login": ("POST", "auth/login", ("email", "password", "totp_code", "recovery_code", "session")),
    "password": ("POST", "auth/password", ("current_password", "new_password")),
    "totp_enable": ("POST", "auth/totp/enable", ("code",)),
    "totp_disable": ("POST", "auth/totp/disable", ("password", "code", "recovery_code")),
    "org_create": ("POST", "orgs", ("name", "slug")),
    "org_rename": ("PATCH", "orgs/{org}", ("name",)),
    "transfer": ("POST", "orgs/{org}/transfer", ("user_id",)),
    "role": ("PATCH", "orgs/{org}/members/{viewer}", ("role",)),
    "invite": ("POST", "orgs/{org}/invitations", ("email", "role", "expires_in_hours")),
    "accept": ("POST", "invitations/accept", ("token",)),
    "token": ("POST", "tokens", ("name", "scope", "expires_in_days")),
    "agent_token": ("POST", "orgs/{org}/agent-tokens", ("name", "scope", "expires_in_days")),
    "project_create": ("POST", "orgs/{org}/projects", ("name", "slug")),
    "project_rename": ("PATCH", "orgs/{org}/projects/{project}", ("name",)),
}


@st.composite
def bodies(draw: st.DrawFn) -> tuple[str, Any]:
    name = draw(st.sampled_from(sorted(OPERATIONS)))
    fields = OPERATIONS[name][2]
    shaped = st.fixed_dictionaries({}, optional={f: values for f in fields})
    body = draw(shaped | values)
    return name, body


def assert_sane(reply: Reply) -> None:
    assert reply.status < 500, f"{reply.where}: {reply.status} {reply.text[:300]}"
    if reply.status >= 400:
        reply.problem(reply.status)


async def _project(client: ApiClient, world: World) -> str:
    if "project" not in world.extra:
        reply = await client.post(
            f"orgs/{world.org}/projects", token=world.owner.token, json={"name": "fuzz"}
        )
        world.extra["project"] = reply.ok(201)["id"]
    return str(world.extra["project"])


@SETTINGS
@given(case=bodies())
async def test_request_bodies_never_cause_server_errors(
    client: ApiClient, world: World, case: tuple[str, Any]
) -> None:
    name, body = case
    method, template, _ = OPERATIONS[name]
    path = template.format(
        org=world.org,
        viewer=world.members["viewer"].user_id,
        project=await _project(client, world),
    )
    # The admin, not the owner: a fuzzed transfer or password change must not lock the test out.
    reply = await client.request(method, path, json=body, token=world.members["admin"].token)
    assert_sane(reply)


@SETTINGS
@given(
    query=st.dictionaries(
        st.sampled_from(
            ["limit", "cursor", "actor", "since", "until", "resource_id", "action", "x"]
        ),
        st.text(max_size=40) | st.integers(min_value=-(10**20), max_value=10**20).map(str),
        max_size=4,
    )
)
async def test_query_strings_never_cause_server_errors(
    client: ApiClient, world: World, query: dict[str, str]
) -> None:
    for path in (f"orgs/{world.org}/audit-events", f"orgs/{world.org}/projects", "orgs", "tokens"):
        reply = await client.get(path, token=world.owner.token, query=query)
        assert_sane(reply)


@SETTINGS
@given(header=st.text(max_size=120), cookie=st.text(max_size=120))
async def test_credentials_never_cause_server_errors(
    client: ApiClient, world: World, header: str, cookie: str
) -> None:
    headers = {}
    if header.isprintable() and header.strip() == header:
        headers["Authorization"] = header
    if cookie.isascii() and cookie.isprintable() and ";" not in cookie:
        headers["Cookie"] = f"meshploy_session={cookie}"
    reply = await client.post(f"orgs/{world.org}/projects", headers=headers, json={"name": "x"})
    assert reply.status in (401, 403), f"{reply.status} {reply.text[:200]}"
    reply.problem(reply.status)
