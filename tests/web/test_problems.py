"""Errors are RFC 9457 problem documents; every response carries a request id that is also
in the logs."""

from __future__ import annotations

from meshploy_core.app.factory import create_app
from tests.fixtures.api import ApiClient, LogCapture, SecretTracker, World
from tests.fixtures.postgres import settings_for


async def test_unknown_route_and_wrong_method(client: ApiClient, world: World) -> None:
    unknown = await client.get("/api/v1/nope")
    assert unknown.problem(404)["request_id"] == unknown.headers["X-Request-Id"]
    wrong = await client.request("PUT", f"orgs/{world.org}", token=world.owner.token)
    wrong.problem(405)
    assert "PATCH" in wrong.headers.get("Allow", "")
    (await client.get("orgs/not-a-uuid", token=world.owner.token)).problem(404)


async def test_validation_errors_name_each_field(client: ApiClient, world: World) -> None:
    reply = await client.post(
        "tokens", token=world.owner.token, json={"name": "", "scope": "admin", "extra": 1}
    )
    body = reply.problem(422)
    fields = {e["field"] for e in body["errors"]}
    assert fields == {"name", "scope", "extra"}, body
    assert all(e["pointer"].startswith("#/") for e in body["errors"])


async def test_malformed_json_and_wrong_content_type(client: ApiClient, world: World) -> None:
    broken = await client.request(
        "POST",
        "tokens",
        token=world.owner.token,
        headers={"Content-Type": "application/json"},
        json=None,
    )
    broken.problem(400)  # an empty body is not JSON
    raw = await client._client.post(
        "/api/v1/tokens",
        data=b"{not json",
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {world.owner.token}",
        },
    )
    assert raw.status_code == 400 and raw.content_type == "application/problem+json"


async def test_request_id_is_in_response_problem_and_logs(
    client: ApiClient, world: World, captured_logs: LogCapture
) -> None:
    ok = await client.get(
        "orgs", token=world.owner.token, headers={"X-Request-Id": "trace-abc-123"}
    )
    assert ok.headers["X-Request-Id"] == "trace-abc-123"
    missing = await client.get("orgs/00000000-0000-4000-8000-000000000000", token=world.owner.token)
    rid = missing.headers["X-Request-Id"]
    assert missing.problem(404)["request_id"] == rid
    logged = {line.get("request_id") for line in captured_logs.lines}
    assert {"trace-abc-123", rid} <= logged
    line = next(x for x in captured_logs.lines if x.get("request_id") == rid)
    assert (line["status"], line["method"]) == (404, "GET")


async def test_database_outage_is_503_without_details(secrets_tracker: SecretTracker) -> None:
    app = create_app(settings_for("postgresql://u:dbpassword@127.0.0.1:1/x"))
    secrets_tracker.add("dbpassword", "database password")
    async with app.test_app():
        client = ApiClient(app, secrets_tracker)
        for reply in (
            await client.get("auth/status"),
            await client.get("orgs", token="mpt_00000000_" + "x" * 43),
        ):
            body = reply.problem(503)
            assert body["detail"] == "the database is unavailable; try again shortly"
            assert reply.headers["Retry-After"] == "5"


async def test_json_types_are_not_coerced(client: ApiClient, world: World) -> None:
    for value in (True, "5", 5.5):
        reply = await client.post(
            "tokens", token=world.owner.token, json={"name": "t", "expires_in_days": value}
        )
        assert reply.problem(422)["errors"][0]["field"] == "expires_in_days", value
    for body in ({"name": 5}, {"name": ["x"]}, {"name": None}):
        (
            await client.post(f"orgs/{world.org}/projects", token=world.owner.token, json=body)
        ).problem(422)
