"""The built-in signed webhook notifier against a real local HTTP server."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from meshploy_notifiers.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookConfig,
    WebhookFactory,
    WebhookNotifier,
    verify,
)

from meshploy_core.plugins.contracts import Notification, NotifierError
from meshploy_core.testing.conformance import NotifierConformance
from meshploy_core.testing.receiver import HttpReceiver

SECRET = "whsec-0123456789abcdef"


class TestWebhookConformance(NotifierConformance):
    """The webhook passes the same conformance suite third-party notifiers inherit."""

    @pytest.fixture
    def notifier_factory(self) -> WebhookFactory:
        return WebhookFactory()

    @pytest.fixture
    def valid_config(self, http_receiver: HttpReceiver) -> WebhookConfig:
        return WebhookConfig(url=f"{http_receiver.url}/hook", secret=SECRET)

    @pytest.fixture
    def unreachable_config(self, closed_url: str) -> WebhookConfig:
        return WebhookConfig(url=closed_url, secret=SECRET, max_attempts=2, initial_backoff=0.01)

    @pytest.fixture
    def delivered(self, http_receiver: HttpReceiver) -> Callable[[], list[str]]:
        return lambda: [r.body.decode() for r in http_receiver.requests]


async def test_delivery_is_signed_and_verifiable(http_receiver: HttpReceiver) -> None:
    notifier = WebhookNotifier(WebhookConfig(url=f"{http_receiver.url}/hook?x=1", secret=SECRET))
    await notifier.send(Notification(event="deploy.failed", title="t", message="m"))
    [req] = http_receiver.wait_for(lambda r: len(r) == 1)
    assert req.path == "/hook?x=1"
    assert req.headers["Content-Type"] == "application/json"
    sig, ts = req.headers[SIGNATURE_HEADER], req.headers[TIMESTAMP_HEADER]
    assert sig.startswith("sha256=")
    assert verify(SECRET, ts, req.body, sig)
    assert not verify("another-secret-value", ts, req.body, sig)
    assert not verify(SECRET, ts, req.body + b" ", sig), "a modified body must not verify"
    assert not verify(SECRET, str(int(ts) - 3600), req.body, sig), "stale timestamps rejected"
    assert json.loads(req.body)["event"] == "deploy.failed"
    assert SECRET not in req.body.decode() and SECRET not in str(req.headers)


async def test_transient_failures_are_retried_with_backoff(http_receiver: HttpReceiver) -> None:
    http_receiver.fail_next(2, status=503)
    config = WebhookConfig(
        url=http_receiver.url, secret=SECRET, max_attempts=4, initial_backoff=0.01
    )
    await WebhookNotifier(config).send(Notification(event="e", title="t", message="m"))
    reqs = http_receiver.wait_for(lambda r: len(r) == 3)
    assert len(reqs) == 3, f"got {len(reqs)} attempts, want 3 (2 failures then success)"
    assert len({r.body for r in reqs}) == 1, "every retry carries the same body"


async def test_client_errors_are_final_and_secret_free(http_receiver: HttpReceiver) -> None:
    http_receiver.fail_next(5, status=400)
    config = WebhookConfig(
        url=http_receiver.url, secret=SECRET, max_attempts=4, initial_backoff=0.01
    )
    with pytest.raises(NotifierError, match="answered HTTP 400") as info:
        await WebhookNotifier(config).send(Notification(event="e", title="t", message="m"))
    assert len(http_receiver.requests) == 1, "a 400 must not be retried"
    assert SECRET not in str(info.value)


async def test_gives_up_after_max_attempts(http_receiver: HttpReceiver) -> None:
    http_receiver.fail_next(10, status=500)
    config = WebhookConfig(
        url=http_receiver.url, secret=SECRET, max_attempts=3, initial_backoff=0.01
    )
    with pytest.raises(NotifierError, match="HTTP 500"):
        await WebhookNotifier(config).send(Notification(event="e", title="t", message="m"))
    assert len(http_receiver.requests) == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"url": "ftp://x", "secret": SECRET}, "must be an http"),
        ({"url": "http://x", "secret": "short"}, "at least 16 characters"),
        ({"url": "http://x", "secret": SECRET, "max_attempts": 0}, "between 1 and 10"),
    ],
)
def test_config_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WebhookConfig(**kwargs)  # type: ignore[arg-type]
