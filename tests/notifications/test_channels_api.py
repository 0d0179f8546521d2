"""Notification channels through the API (typed client, served app, real PostgreSQL) with
real receivers: "add a Slack notification channel for the staging project", email over
STARTTLS+AUTH, test sends, deliveries and attempts, masked secrets, refused bad input that
changes nothing."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from meshploy_core.client.errors import ApiError
from meshploy_core.client.http import ApiClient
from meshploy_core.db.engine import create_engine, session_factory
from meshploy_core.events import EventKind, record_event
from meshploy_core.events.delivery import DeliveryWorker
from meshploy_core.plugins.manager import PluginManager
from meshploy_core.settings import Settings
from meshploy_core.testing.receiver import HttpReceiver
from tests.fixtures.api import SecretTracker
from tests.fixtures.receivers import SMTP_USER, SmtpReceiver

HOOK = "/services/T0001/B0002/slack-secret-token-9f8e"


@pytest.fixture
async def api_engine(api_settings: Settings) -> Any:
    engine = create_engine(api_settings, pool_size=2)
    yield engine
    await engine.dispose()


def _no_secret(value: Any, *secrets: str) -> None:
    text = json.dumps(value)
    for secret in secrets:
        assert secret not in text, f"{secret!r} leaked into {text[:300]}"


async def _problem(call: Any) -> ApiError:
    with pytest.raises(ApiError) as info:
        await call
    return info.value


async def test_a_slack_channel_for_the_staging_project(
    owner_api: ApiClient,
    http_receiver: HttpReceiver,
    api_engine: AsyncEngine,
    secrets_tracker: SecretTracker,
) -> None:
    url = http_receiver.url + HOOK
    secrets_tracker.add(url, "slack webhook url")
    staging = await owner_api.create_project(name="Staging", slug="staging")
    channel = await owner_api.create_notification_channel(
        name="staging alerts",
        kind="slack",
        config={"url": url},
        events=["deployment.failed", "job_run.failed"],
        project_id=staging["id"],
    )
    # Created only after a test message arrived.
    [hello] = http_receiver.wait_for(lambda r: len(r) == 1)
    assert hello.path == HOOK
    assert "is connected" in json.loads(hello.body)["text"]
    assert channel["config"] == {"url": "********", "timeout": 10.0}
    assert (channel["kind"], channel["project_id"]) == ("slack", staging["id"])
    listed = await owner_api.list_notification_channels()
    got = await owner_api.get_notification_channel(channel_id=channel["id"])
    _no_secret([channel, listed, got], url, "slack-secret-token")

    # An event of the project, recorded as the reconciler would, delivered by the worker.
    sessions = session_factory(api_engine)
    async with sessions() as s:
        await record_event(
            s,
            EventKind.DEPLOYMENT_FAILED,
            org_id=uuid.UUID(staging["org_id"]),
            project_id=uuid.UUID(staging["id"]),
            title="api failed to deploy",
            message="image pull failed",
            details={"project": "staging", "service": "api"},
        )
        await record_event(
            s,
            EventKind.DEPLOYMENT_HEALTHY,  # not subscribed: not delivered
            org_id=uuid.UUID(staging["org_id"]),
            project_id=uuid.UUID(staging["id"]),
            title="api is healthy",
        )
        await s.commit()
    catalog = await PluginManager.load().notifiers()
    assert await DeliveryWorker(sessions, catalog).run_once() == 1
    _, alert = http_receiver.wait_for(lambda r: len(r) == 2)
    body = json.loads(alert.body)
    assert body["blocks"][0]["text"]["text"] == "api failed to deploy"
    assert "project *staging*" in body["blocks"][-1]["elements"][0]["text"]

    tested = await owner_api.test_notification_channel(channel_id=channel["id"])
    assert (tested["delivered"], tested["error"]) == (True, None)
    deliveries = (await owner_api.notification_deliveries(channel_id=channel["id"]))["items"]
    assert [(d["event_kind"], d["status"]) for d in deliveries] == [
        ("channel.test", "delivered"),
        ("deployment.failed", "delivered"),
    ]
    assert [a["ok"] for a in deliveries[1]["attempts"]] == [True]
    events = (await owner_api.list_events())["items"]
    assert [e["kind"] for e in events][:3] == [
        "channel.test",
        "deployment.healthy",
        "deployment.failed",
    ]


async def test_an_unreachable_url_is_refused_and_nothing_is_stored(
    owner_api: ApiClient, closed_url: str
) -> None:
    err = await _problem(
        owner_api.create_notification_channel(
            name="down", kind="slack", config={"url": closed_url + HOOK}
        )
    )
    assert err.status == 422
    assert [e.field for e in err.errors] == ["config.url"]
    assert "could not be reached: ConnectError contacting http://127.0.0.1:" in (
        err.errors[0].detail
    )
    assert "slack-secret-token" not in str(err.problem)
    assert (await owner_api.list_notification_channels())["items"] == []
    saved = await owner_api.create_notification_channel(
        name="down", kind="slack", config={"url": closed_url + HOOK}, verify=False
    )
    tested = await owner_api.test_notification_channel(channel_id=saved["id"])
    assert tested["delivered"] is False and "ConnectError" in (tested["error"] or "")
    [delivery] = (await owner_api.notification_deliveries(channel_id=saved["id"]))["items"]
    assert delivery["status"] == "failed" and len(delivery["attempts"]) == 1


@pytest.mark.parametrize(
    ("body", "field", "detail"),
    [
        ({"kind": "pager"}, "kind", "must be one of: discord, email, slack, webhook"),
        ({"config": {"url": "ftp://x"}}, "config", "slack url must be an http(s) URL"),
        ({"config": {}}, "config.url", "Field required"),
        (
            {"config": {"url": "http://x", "extra": 1}},
            "config.extra",
            "unknown setting; slack takes: timeout, url",
        ),
        ({"events": ["deploy.maybe"]}, "events.0", "must be one of: deployment.started"),
    ],
)
async def test_bad_input_names_the_field_and_the_rule(
    owner_api: ApiClient, body: dict[str, Any], field: str, detail: str
) -> None:
    args: dict[str, Any] = {"name": "x", "kind": "slack", "config": {"url": "http://x"}, **body}
    err = await _problem(owner_api.create_notification_channel(**args, verify=False))
    assert err.status == 422, err
    match = [e for e in err.errors if e.field == field]
    assert match and match[0].detail.startswith(detail), err.errors
    assert (await owner_api.list_notification_channels())["items"] == []


async def test_names_are_unique_and_updates_merge_secrets_in(
    owner_api: ApiClient, http_receiver: HttpReceiver, closed_url: str
) -> None:
    secret = "whsec-api-channel-0123456789"
    made = await owner_api.create_notification_channel(
        name="hook", kind="webhook", config={"url": http_receiver.url, "secret": secret}
    )
    assert made["config"]["secret"] == "********" and made["config"]["url"] == http_receiver.url
    err = await _problem(
        owner_api.create_notification_channel(
            name="hook", kind="slack", config={"url": "http://x"}, verify=False
        )
    )
    assert err.status == 409 and (err.detail or "").startswith("name: ")
    # Only the events change: the secret stays (it was never sent back).
    changed = await owner_api.update_notification_channel(
        channel_id=made["id"], events=["backup.failed"]
    )
    assert changed["events"] == ["backup.failed"]
    assert (await owner_api.test_notification_channel(channel_id=made["id"]))["delivered"]
    # A new address that cannot be reached is refused; the stored one is untouched.
    err = await _problem(
        owner_api.update_notification_channel(channel_id=made["id"], config={"url": closed_url})
    )
    assert err.status == 422 and err.errors[0].field == "config.url"
    still = await owner_api.get_notification_channel(channel_id=made["id"])
    assert still["config"]["url"] == http_receiver.url
    await owner_api.delete_notification_channel(channel_id=made["id"])
    assert (await owner_api.list_notification_channels())["items"] == []


async def test_an_email_channel_over_starttls_and_auth(
    owner_api: ApiClient, smtp_receiver: SmtpReceiver, secrets_tracker: SecretTracker
) -> None:
    secrets_tracker.add(smtp_receiver.password, "smtp password")
    made = await owner_api.create_notification_channel(
        name="mail",
        kind="email",
        config={
            "host": smtp_receiver.host,
            "port": smtp_receiver.port,
            "sender": "meshploy@example.com",
            "to": ["ops@example.com"],
            "username": SMTP_USER,
            "password": smtp_receiver.password,
            "ca_pem": smtp_receiver.ca_pem,
        },
    )
    [(envelope, mail)] = smtp_receiver.messages
    assert envelope.rcpt_tos == ["ops@example.com"] and "is connected" in mail["Subject"]
    assert smtp_receiver.logins == [SMTP_USER] and smtp_receiver.tls_sessions == 1
    assert made["config"]["password"] == "********"
    _no_secret(await owner_api.list_notification_channels(), smtp_receiver.password)
    err = await _problem(
        owner_api.update_notification_channel(
            channel_id=made["id"], config={"password": "wrong-password-77"}
        )
    )
    assert err.status == 422 and "refused the login" in err.errors[0].detail
    assert "wrong-password-77" not in str(err.problem)
