"""The generated client cannot drift from the server: regenerate in memory and compare."""

from __future__ import annotations

import asyncio
import json

import pytest

from meshploy_core.client import generate
from meshploy_core.client.operations import BY_ID, OPERATIONS
from tests.fixtures.api import ApiClient as TrackedClient

#: What the issue calls destructive: deletes, rollback, cancel, role, member, token and
#: credential changes. A new operation of these kinds must be marked @destructive.
DESTRUCTIVE = {
    "delete_org",
    "transfer",
    "change_role",
    "remove_member",
    "create_invitation",
    "revoke_invitation",
    "create_token",
    "revoke_token",
    "create_agent_token",
    "revoke_agent_token",
    "delete_project",
    "delete_service",
    "update_env",
    "rollback",
    "cancel",
    "logout",
    "change_password",
    "totp_disable",
    "totp_recovery_codes",
    "create_registry_credential",
    "update_registry_credential",
    "delete_registry_credential",
    "delete_job",
    "update_job_env",
    "update_variable_group",
    "delete_variable_group",
    "update_notification_channel",
    "delete_notification_channel",
}


@pytest.fixture(scope="module")
def document() -> dict[str, object]:
    """The OpenAPI document of the app as built from this checkout."""
    return generate.document_from_app()


def test_generated_files_match_the_document(document: dict[str, object]) -> None:
    stale = generate.stale_files(document)
    assert not stale, f"{stale} differ from the OpenAPI document; run scripts/gen-client"


async def test_the_served_document_is_the_one_generated_from(client: TrackedClient) -> None:
    served = (await client.get("/api/v1/openapi.json")).ok()
    built = await asyncio.to_thread(generate.document_from_app)
    # Quart serves JSON with sorted keys; the generator reads the provider's own order.
    assert json.dumps(served, sort_keys=True) == json.dumps(built, sort_keys=True)


def test_every_operation_is_in_the_table(document: dict[str, object]) -> None:
    paths = document["paths"]
    assert isinstance(paths, dict)
    ids = {op["operationId"] for item in paths.values() for op in item.values()}
    assert ids == set(BY_ID)


def test_permissions_writes_and_destructive_marks() -> None:
    for op in OPERATIONS:
        assert op.permission or op.public
        if op.method == "GET":
            assert not op.writes, op.operation_id
        if op.method in ("PUT", "PATCH", "DELETE"):
            assert op.writes, op.operation_id
        if op.method == "DELETE":
            assert op.destructive, op.operation_id
    assert {op.operation_id for op in OPERATIONS if op.destructive} == DESTRUCTIVE


def test_nouns_and_verbs_are_unique_and_readable() -> None:
    pairs = [(op.noun, op.verb) for op in OPERATIONS]
    assert len(set(pairs)) == len(pairs)
    assert BY_ID["list_projects"].verb == "list"
    assert (BY_ID["list_audit_events"].noun, BY_ID["list_audit_events"].verb) == ("audit", "list")
    assert (BY_ID["list_deployments"].noun, BY_ID["list_deployments"].verb) == (
        "deployment",
        "list",
    )
    assert (BY_ID["deploy_service"].noun, BY_ID["deploy_service"].verb) == ("service", "deploy")


def test_generator_refuses_what_the_client_cannot_follow(document: dict[str, object]) -> None:
    import copy

    broken = copy.deepcopy(document)
    paths = broken["paths"]
    assert isinstance(paths, dict)
    del paths["/api/v1/orgs"]["get"]["operationId"]
    with pytest.raises(ValueError, match="operationId missing"):
        generate.operations_of(broken)
    clash = copy.deepcopy(document)
    paths = clash["paths"]
    assert isinstance(paths, dict)
    paths["/api/v1/orgs/{org_id}/projects"]["post"]["operationId"] = "create_org"
    with pytest.raises(ValueError, match="not unique"):
        generate.operations_of(clash)
