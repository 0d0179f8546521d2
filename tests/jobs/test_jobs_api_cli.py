"""Jobs through the API and the CLI as people use them (``meshploy job create|list|get|
trigger|runs|logs|delete``), and bad input refused with the field and the rule, storing
nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from meshploy_core.client.errors import ApiError
from meshploy_core.client.http import ApiClient
from tests.fixtures.cli import Cli, Owner

GOOD: dict[str, Any] = {"name": "nightly-cleanup", "schedule": "30 2 * * *", "image": "busybox"}


@pytest.mark.parametrize(
    ("change", "field", "detail"),
    [
        (
            {"schedule": "0 30 2 * * *"},
            "schedule",
            "must have 5 fields (minute hour day-of-month month day-of-week, like '30 2 * * *');"
            " got 6 (seconds are not supported)",
        ),
        ({"schedule": "61 * * * *"}, "schedule", "minute field: 61 is out of range 0-59"),
        ({"time_zone": "Mars/Olympus"}, "time_zone", "'Mars/Olympus' is not a known time zone"),
        (
            {"image_from_service": "api"},
            "image",
            "give exactly one of image and image_from_service",
        ),
        ({"name": "x" * 53}, "name", "String should have at most 52 characters"),
        ({"variable_groups": ["nope"]}, "variable_groups.0", "no variable group named 'nope'"),
        ({"retries": 11}, "retries", "Input should be less than or equal to 10"),
        ({"concurrency_policy": "Sometimes"}, "concurrency_policy", "Input should be 'Allow'"),
    ],
)
async def test_bad_input_names_the_field_and_stores_nothing(
    owner_api: ApiClient, change: dict[str, Any], field: str, detail: str
) -> None:
    shop = await owner_api.create_project(name="Shop", slug="shop")
    with pytest.raises(ApiError) as info:
        await owner_api.create_job(project_id=shop["id"], **{**GOOD, **change})
    err = info.value
    assert err.status == 422, err
    found = {e.field: e.detail for e in err.errors}
    assert field in found and found[field].startswith(detail), found
    assert (await owner_api.list_jobs(project_id=shop["id"]))["items"] == []


async def test_a_name_taken_is_a_conflict(owner_api: ApiClient) -> None:
    shop = await owner_api.create_project(name="Shop", slug="shop")
    await owner_api.create_job(project_id=shop["id"], **GOOD)
    with pytest.raises(ApiError) as info:
        await owner_api.create_job(project_id=shop["id"], **{**GOOD, "schedule": "@daily"})
    assert info.value.status == 409
    assert info.value.detail == (
        "name: this project already has a job named 'nightly-cleanup'; choose another"
    )
    [job] = (await owner_api.list_jobs(project_id=shop["id"]))["items"]
    assert job["schedule"] == "30 2 * * *", "the refused request changed nothing"


async def test_the_cli_drives_jobs_by_name(cli: Cli, owner: Owner) -> None:
    cli.env = {
        "MESHPLOY_API_URL": cli.api_url,
        "MESHPLOY_TOKEN": owner.token,
        "MESHPLOY_ORG_ID": owner.org_id,
    }
    cli.tracker.add("cli-job-token-41f0", "job env value")
    (await cli.arun("project", "create", "Shop", "--slug", "shop")).ok()
    created = (
        await cli.arun(
            "job",
            "create",
            "nightly-cleanup",
            "--project",
            "shop",
            "--schedule",
            "30 2 * * *",
            "--time-zone",
            "Europe/Paris",
            "--image",
            "busybox:1.36",
            "--command",
            "/bin/sh",
            "--command",
            "-c",
            "--command",
            "echo cleaning",
            "--env",
            "TOKEN=cli-job-token-41f0",
            "--retries",
            "1",
            "--json",
        )
    ).json()
    assert created["env"] == [{"name": "TOKEN", "value": "********"}]
    assert created["command"] == ["/bin/sh", "-c", "echo cleaning"]
    table = (await cli.arun("job", "list", "--project", "shop")).ok()
    assert "nightly-cleanup" in table and "30 2 * * *" in table
    got = (await cli.arun("job", "get", "nightly-cleanup", "--project", "shop", "--json")).json()
    assert got["id"] == created["id"] and got["time_zone"] == "Europe/Paris"

    run = (
        await cli.arun("job", "trigger", "nightly-cleanup", "--project", "shop", "--json")
    ).json()
    assert (run["trigger"], run["status"]) == ("manual", "pending")
    runs = (await cli.arun("job", "runs", "nightly-cleanup", "--project", "shop", "--json")).json()
    assert [r["id"] for r in runs["items"]] == [run["id"]]
    logs = await cli.arun("job", "logs", "nightly-cleanup", "--project", "shop")
    assert logs.code == 0 and f"run {run['id']} (manual): pending" in logs.err
    assert "the run has not finished" in logs.err

    bad = await cli.arun(
        "job",
        "create",
        "other",
        "--project",
        "shop",
        "--schedule",
        "* * * * * *",
        "--image",
        "busybox",
    )
    line = bad.error()
    assert "schedule: must have 5 fields" in line
    missing = await cli.arun("job", "trigger", "nope", "--project", "shop")
    assert "no job 'nope' in this project" in missing.error()
    (await cli.arun("job", "delete", "nightly-cleanup", "--project", "shop")).ok()
    assert "no jobs" in (await cli.arun("job", "list", "--project", "shop")).ok().lower() or (
        json.loads((await cli.arun("job", "list", "--project", "shop", "--json")).ok())["items"]
        == []
    )
