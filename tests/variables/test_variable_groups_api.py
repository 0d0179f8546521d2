"""Variable groups through the API: shared sealed variables, masked reads, the effective
environment with each value's source, ordering rules, refused bad input that changes nothing,
deletion refused while in use, and a change rolling the deployed services that use it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from meshploy_core.client.errors import ApiError
from meshploy_core.client.http import ApiClient
from tests.fixtures.api import SecretTracker

DB_PASSWORD = "group-db-password-5b1c"
NEW_PASSWORD = "group-db-password-rotated-e4d2"


async def _problem(call: Any) -> ApiError:
    with pytest.raises(ApiError) as info:
        await call
    return info.value


async def test_groups_effective_env_and_rolling(
    owner_api: ApiClient, secrets_tracker: SecretTracker
) -> None:
    secrets_tracker.add(DB_PASSWORD, "group value")
    secrets_tracker.add(NEW_PASSWORD, "group value")
    web = await owner_api.create_project(name="Web", slug="web")
    shared = await owner_api.create_variable_group(
        name="shared", variables={"DB_PASSWORD": DB_PASSWORD, "LOG_LEVEL": "debug", "X": "1"}
    )
    local = await owner_api.create_variable_group(
        name="web-only", project_id=web["id"], variables={"X": "2"}
    )
    assert [v["name"] for v in shared["variables"]] == ["DB_PASSWORD", "LOG_LEVEL", "X"]
    assert {v["value"] for v in shared["variables"]} == {"********"}
    api = await owner_api.create_service(
        project_id=web["id"], name="api", image="nginx:1.27", port=80, env={"LOG_LEVEL": "info"}
    )
    idle = await owner_api.create_service(project_id=web["id"], name="idle", image="nginx", port=80)
    effective = await owner_api.attach_variable_groups(
        project_id=web["id"], service_id=api["id"], groups=["shared", "web-only"]
    )
    await owner_api.attach_variable_groups(
        project_id=web["id"], service_id=idle["id"], groups=["shared"]
    )
    assert effective["groups"] == ["shared", "web-only"]
    assert {v["name"]: v["source"] for v in effective["variables"]} == {
        "DB_PASSWORD": "group:shared",
        "LOG_LEVEL": "own",  # the service's own variables win over every group
        "X": "group:web-only",  # later groups win over earlier ones
    }
    again = await owner_api.effective_service_env(project_id=web["id"], service_id=api["id"])
    assert again == effective

    first = await owner_api.deploy_service(project_id=web["id"], service_id=api["id"])
    assert [v["name"] for v in first["env"]] == ["DB_PASSWORD", "LOG_LEVEL", "X"]
    changed = await owner_api.update_variable_group(
        group_id=shared["id"], set={"DB_PASSWORD": NEW_PASSWORD}
    )
    # The deployed service rolls (a recorded deployment); the never-deployed one does not.
    [rolled] = changed["deployments"]
    assert rolled["service_id"] == api["id"] and rolled["status"] == "queued"
    log = await owner_api.deployment_logs(deployment_id=rolled["id"])
    assert "variable group shared changed" in log["items"][0]["message"]
    unchanged = await owner_api.update_variable_group(group_id=shared["id"], set={})
    assert unchanged["deployments"] == [], "no change, no rollout"
    got = await owner_api.get_variable_group(group_id=shared["id"])
    assert sorted(u["name"] for u in got["used_by"]) == ["api", "idle"]
    everything = json.dumps([shared, local, effective, changed, got, first, rolled])
    assert DB_PASSWORD not in everything and NEW_PASSWORD not in everything


async def test_bad_input_is_refused_with_the_field_and_nothing_changes(
    owner_api: ApiClient,
) -> None:
    web = await owner_api.create_project(name="Web", slug="web")
    other = await owner_api.create_project(name="Other", slug="other")
    await owner_api.create_variable_group(name="shared", variables={"A": "1"})
    err = await _problem(owner_api.create_variable_group(name="shared", variables={}))
    assert err.status == 409 and (err.detail or "").startswith("name: a variable group named")
    err = await _problem(owner_api.create_variable_group(name="bad", variables={"1BAD": "x"}))
    assert err.status == 422
    [field] = err.errors
    assert field.field == "variables.1BAD.[key]"
    assert field.detail == "String should match pattern '^[A-Za-z_][A-Za-z0-9_]*$'"
    err = await _problem(owner_api.create_variable_group(name="Bad_Name", variables={}))
    assert err.status == 422 and err.errors[0].field == "name"
    names = [g["name"] for g in (await owner_api.list_variable_groups())["items"]]
    assert names == ["shared"], "nothing stored by refused requests"

    svc = await owner_api.create_service(project_id=web["id"], name="api", image="nginx", port=80)
    theirs = await owner_api.create_variable_group(name="theirs", project_id=other["id"])
    err = await _problem(
        owner_api.attach_variable_groups(
            project_id=web["id"], service_id=svc["id"], groups=["shared", "nope", "theirs"]
        )
    )
    assert err.status == 422
    assert {e.field: e.detail for e in err.errors} == {
        "groups.1": "no variable group named 'nope' in this organization",
        "groups.2": "group 'theirs' belongs to another project",
    }
    env = await owner_api.effective_service_env(project_id=web["id"], service_id=svc["id"])
    assert env["groups"] == [], "a refused attach changes nothing"
    err = await _problem(owner_api.update_variable_group(group_id=theirs["id"], unset=["MISSING"]))
    assert err.status == 422 and err.errors[0].field == "unset.MISSING"


async def test_a_group_in_use_cannot_be_deleted(owner_api: ApiClient) -> None:
    web = await owner_api.create_project(name="Web", slug="web")
    group = await owner_api.create_variable_group(name="shared", variables={"A": "1"})
    svc = await owner_api.create_service(project_id=web["id"], name="api", image="nginx", port=80)
    await owner_api.attach_variable_groups(
        project_id=web["id"], service_id=svc["id"], groups=["shared"]
    )
    await owner_api.create_job(
        project_id=web["id"],
        name="nightly-cleanup",
        schedule="0 3 * * *",
        image="busybox:1.36",
        variable_groups=["shared"],
    )
    err = await _problem(owner_api.delete_variable_group(group_id=group["id"]))
    assert err.status == 409
    assert err.detail == (
        "variable group 'shared' is in use by job web/nightly-cleanup, service web/api; "
        "detach it from them first"
    )
    assert (await owner_api.get_variable_group(group_id=group["id"]))["name"] == "shared"
    await owner_api.attach_variable_groups(project_id=web["id"], service_id=svc["id"], groups=[])
    job = (await owner_api.list_jobs(project_id=web["id"], name="nightly-cleanup"))["items"][0]
    await owner_api.delete_job(project_id=web["id"], job_id=job["id"])
    await owner_api.delete_variable_group(group_id=group["id"])
    assert (await owner_api.list_variable_groups())["items"] == []
