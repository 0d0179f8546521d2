"""Deny by default: every route declares a policy, the matrix covers every route, and a route
without a policy is refused at request time."""

from __future__ import annotations

import re

from quart import Blueprint, Quart

from meshploy_core.app.factory import create_app
from meshploy_core.authorization.policy import PERMISSIONS, policy_of
from meshploy_core.plugins import hookimpl
from meshploy_core.plugins.manager import PluginManager
from meshploy_core.settings import Settings
from tests.authorization.matrix_ops import OPERATIONS, PUBLIC
from tests.fixtures.api import ApiClient, LogCapture, SecretTracker, World

API_DOC_ENDPOINTS = {"/api/v1/openapi.json", "/api/v1/docs", "/api/v1/docs/assets/<name>"}


def _api_routes(app: Quart) -> set[str]:
    routes = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.rule in API_DOC_ENDPOINTS:
            continue
        for method in rule.methods or ():
            if method not in ("HEAD", "OPTIONS"):
                routes.add(f"{method} {rule.rule}")
    return routes


def test_every_route_declares_a_policy(app: Quart) -> None:
    missing = [
        f"{rule.rule} ({rule.endpoint})"
        for rule in app.url_map.iter_rules()
        if policy_of(app.view_functions[rule.endpoint]) is None
    ]
    assert not missing, f"routes without a declared policy: {missing}"


def test_matrix_covers_every_api_route_and_nothing_else(app: Quart) -> None:
    served = _api_routes(app)
    in_matrix = {op.label for op in OPERATIONS}
    assert served - in_matrix == set(), "routes missing from the authorization matrix"
    assert in_matrix - served == set(), "matrix lists routes the app does not serve"


def test_matrix_agrees_with_declared_policies(app: Quart) -> None:
    by_route = {}
    for rule in app.url_map.iter_rules():
        for method in rule.methods or ():
            by_route[f"{method} {rule.rule}"] = policy_of(app.view_functions[rule.endpoint])
    for op in OPERATIONS:
        declared = by_route[op.label]
        assert declared is not None
        if op.kind == PUBLIC:
            assert declared.public, op.label
            continue
        assert declared.permission is not None, op.label
        got = (declared.permission.scope, declared.permission.writes)
        assert got == (op.kind, op.writes), f"{op.label}: got {got}, want {(op.kind, op.writes)}"


def test_permission_names_are_documented() -> None:
    for name, perm in PERMISSIONS.items():
        assert perm.name == name and perm.description and perm.scope in ("account", "org")


class UndeclaredRoutes:
    """A plugin that forgets to declare a policy."""

    @hookimpl
    def register_routes(self, app: Quart) -> None:
        bp = Blueprint("careless", __name__)

        @bp.get("/api/v1/careless")
        async def careless() -> dict[str, str]:
            return {"secret": "should never be served"}

        app.register_blueprint(bp)


async def test_route_without_policy_is_refused_at_request_time(
    api_settings: Settings, captured_logs: LogCapture, secrets_tracker: SecretTracker
) -> None:
    manager = PluginManager.load(extra=[("careless", UndeclaredRoutes())])
    app = create_app(api_settings, manager)
    async with app.test_app():
        client = ApiClient(app, secrets_tracker)
        anonymous = await client.get("careless")
        body = anonymous.problem(403)
        assert "declares no authorization policy" in body["detail"]
        owner_status = (
            await client.post(
                "auth/register", json={"email": "o@example.com", "password": "long enough pw"}
            )
        ).status
        assert owner_status == 201
        session = (
            await client.post(
                "auth/login", json={"email": "o@example.com", "password": "long enough pw"}
            )
        ).ok()["token"]
        secrets_tracker.add(session, "session")
        authed = await client.get("careless", token=session)
        authed.problem(403)
    assert any("declares no authorization policy" in line for line in captured_logs.raw)


async def test_openapi_document_is_served_and_complete(client: ApiClient, app: Quart) -> None:
    doc = (await client.get("/api/v1/openapi.json")).ok()
    assert doc["openapi"].startswith("3.1")
    assert set(doc["components"]["securitySchemes"]) == {"bearerAuth", "sessionCookie"}
    ops = [
        (f"{method.upper()} {path}", op)
        for path, item in doc["paths"].items()
        for method, op in item.items()
    ]
    assert len(ops) == len(OPERATIONS), f"got {len(ops)} operations, want {len(OPERATIONS)}"
    ids = [op["operationId"] for _, op in ops]
    assert len(ids) == len(set(ids)), "operationIds must be unique"
    for label, op in ops:
        assert "x-meshploy-permission" in op or op.get("security") == [], label
        assert "default" in op["responses"], label
        problem = op["responses"]["default"]["content"]
        assert "application/problem+json" in problem, label
    docs = await client.get("/api/v1/docs")
    assert docs.status == 200 and "swagger" in docs.text.lower()
    assert "/api/v1/openapi.json" in docs.text
    # Swagger UI comes from this server, never a CDN (same origin as the session cookie).
    assert "http://" not in docs.text and "https://" not in docs.text
    for asset, kind in (("swagger-ui-bundle.js", "javascript"), ("swagger-ui.css", "text/css")):
        assert f"/api/v1/docs/assets/{asset}" in docs.text
        served = await client.get(f"/api/v1/docs/assets/{asset}")
        assert served.status == 200 and kind in served.headers["content-type"]
        assert len(served.body) > 10_000
    assert (await client.get("/api/v1/docs/assets/..%2F..%2F__init__.py")).status == 404
    assert (await client.get("/api/v1/docs/assets/index.html")).status == 404


async def test_no_route_leaks_without_credentials(client: ApiClient, world: World) -> None:
    """Belt and braces: every non-public operation answers 401 to a garbage bearer token."""
    for op in OPERATIONS:
        if op.kind == PUBLIC:
            continue
        path = op.rule.replace("<uuid:org_id>", world.org)
        path = re.sub(r"<uuid:[a-z_]+>", "00000000-0000-4000-8000-000000000000", path)
        reply = await client.request(op.method, path, json={}, token="mpt_00000000_" + "x" * 43)
        reply.problem(401)
        assert reply.headers.get("WWW-Authenticate", "").startswith("Bearer")
