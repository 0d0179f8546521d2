"""The built-in notifiers against real receivers on loopback: Slack's and Discord's
incoming-webhook payloads as their docs describe them, email over SMTP with STARTTLS and
AUTH (aiosmtpd), and the conformance suite every notifier (ours and third parties') passes."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from meshploy_notifiers.discord import DiscordConfig, DiscordFactory, DiscordNotifier
from meshploy_notifiers.email import EmailConfig, EmailFactory, EmailNotifier
from meshploy_notifiers.slack import SlackConfig, SlackFactory, SlackNotifier

from meshploy_core.notifications.configs import secret_fields
from meshploy_core.plugins.contracts import Notification, NotifierError
from meshploy_core.testing.conformance import NotifierConformance
from meshploy_core.testing.receiver import HttpReceiver
from tests.fixtures.receivers import SMTP_USER, SmtpReceiver

NOTE = Notification(
    event="deployment.failed",
    title="api failed to deploy <v2> & more",
    message="image pull failed for registry.invalid/api:2 <@everyone>",
    severity="error",
    project="staging",
    service="api",
    occurred_at=datetime(2026, 12, 1, 10, 30, tzinfo=UTC),
)
HOOK_PATH = "/services/T0001/B0002/s3cr3tT0kenPart"


class TestSlackConformance(NotifierConformance):
    @pytest.fixture
    def notifier_factory(self) -> SlackFactory:
        return SlackFactory()

    @pytest.fixture
    def valid_config(self, http_receiver: HttpReceiver) -> SlackConfig:
        return SlackConfig(url=http_receiver.url + HOOK_PATH)

    @pytest.fixture
    def unreachable_config(self, closed_url: str) -> SlackConfig:
        return SlackConfig(url=closed_url + HOOK_PATH)

    @pytest.fixture
    def delivered(self, http_receiver: HttpReceiver) -> Callable[[], list[str]]:
        return lambda: [r.body.decode() for r in http_receiver.requests]


class TestDiscordConformance(TestSlackConformance):
    @pytest.fixture
    def notifier_factory(self) -> DiscordFactory:
        return DiscordFactory()

    @pytest.fixture
    def valid_config(self, http_receiver: HttpReceiver) -> DiscordConfig:
        return DiscordConfig(url=http_receiver.url + "/api/webhooks/1/tok")

    @pytest.fixture
    def unreachable_config(self, closed_url: str) -> DiscordConfig:
        return DiscordConfig(url=closed_url + "/api/webhooks/1/tok")


class TestEmailConformance(NotifierConformance):
    @pytest.fixture
    def notifier_factory(self) -> EmailFactory:
        return EmailFactory()

    @pytest.fixture
    def valid_config(self, smtp_receiver: SmtpReceiver) -> EmailConfig:
        return _email(smtp_receiver)

    @pytest.fixture
    def unreachable_config(self, closed_url: str) -> EmailConfig:
        port = int(closed_url.rsplit(":", 1)[1].split("/")[0])
        return EmailConfig(
            host="127.0.0.1",
            port=port,
            sender="meshploy@example.com",
            to=("ops@example.com",),
            username=SMTP_USER,
            password="not-the-password-123",
        )

    @pytest.fixture
    def delivered(self, smtp_receiver: SmtpReceiver) -> Callable[[], list[str]]:
        return lambda: [
            f"{m['Subject']}\n{m.get_payload(decode=True).decode()}"  # type: ignore[union-attr]
            for _, m in smtp_receiver.messages
        ]


def _email(smtp: SmtpReceiver, password: str | None = None) -> EmailConfig:
    return EmailConfig(
        host=smtp.host,
        port=smtp.port,
        sender="meshploy@example.com",
        to=("ops@example.com", "dev@example.com"),
        username=SMTP_USER,
        password=password or smtp.password,
        ca_pem=smtp.ca_pem,
    )


async def test_slack_payload_is_block_kit_with_a_text_fallback(
    http_receiver: HttpReceiver,
) -> None:
    await SlackNotifier(SlackConfig(url=http_receiver.url + HOOK_PATH)).send(NOTE)
    [req] = http_receiver.wait_for(lambda r: len(r) == 1)
    assert req.path == HOOK_PATH
    assert req.headers["Content-Type"] == "application/json"
    body = json.loads(req.body)
    assert set(body) == {"text", "blocks"}
    # Slack's control characters are escaped, so event text cannot ping or link.
    assert body["text"].startswith("api failed to deploy &lt;v2&gt; &amp; more: ")
    assert "<@everyone>" not in req.body.decode()
    header, section, context = body["blocks"]
    assert header == {
        "type": "header",
        "text": {"type": "plain_text", "text": "api failed to deploy <v2> & more"},
    }
    assert section["type"] == "section" and section["text"]["type"] == "mrkdwn"
    assert section["text"]["text"] == (
        "image pull failed for registry.invalid/api:2 &lt;@everyone&gt;"
    )
    assert context["type"] == "context"
    line = context["elements"][0]
    assert line["type"] == "mrkdwn"
    assert ":red_circle: error" in line["text"] and "project *staging*" in line["text"]
    assert "2026-12-01 10:30:00 UTC" in line["text"]


async def test_discord_payload_has_content_and_one_embed(http_receiver: HttpReceiver) -> None:
    await DiscordNotifier(DiscordConfig(url=http_receiver.url + "/api/webhooks/1/t")).send(NOTE)
    [req] = http_receiver.wait_for(lambda r: len(r) == 1)
    body = json.loads(req.body)
    assert set(body) == {"content", "embeds", "allowed_mentions", "username"}
    assert body["allowed_mentions"] == {"parse": []}, "event text must never ping anyone"
    assert body["username"] == "Meshploy"
    assert body["content"] == "[error] api failed to deploy <v2> & more"
    [embed] = body["embeds"]
    assert embed["title"] == NOTE.title and embed["description"] == NOTE.message
    assert embed["color"] == 0xEB5757
    assert embed["timestamp"] == "2026-12-01T10:30:00+00:00"
    assert {"name": "project", "value": "staging", "inline": True} in embed["fields"]
    assert len(embed["title"]) <= 256 and len(body["content"]) <= 2000


async def test_chat_limits_are_kept(http_receiver: HttpReceiver) -> None:
    long = Notification(event="e", title="t" * 1000, message="m" * 10000)
    await SlackNotifier(SlackConfig(url=http_receiver.url + HOOK_PATH)).send(long)
    await DiscordNotifier(DiscordConfig(url=http_receiver.url + "/d")).send(long)
    slack, discord = (json.loads(r.body) for r in http_receiver.wait_for(lambda r: len(r) == 2))
    assert len(slack["blocks"][0]["text"]["text"]) == 150
    assert len(slack["blocks"][1]["text"]["text"]) == 3000
    assert len(discord["embeds"][0]["title"]) == 256
    assert len(discord["embeds"][0]["description"]) == 4096


async def test_chat_errors_name_the_host_never_the_secret_path(
    http_receiver: HttpReceiver,
) -> None:
    http_receiver.fail_next(1, status=404)
    with pytest.raises(NotifierError) as info:
        await SlackNotifier(SlackConfig(url=http_receiver.url + HOOK_PATH)).send(NOTE)
    assert str(info.value) == f"{http_receiver.url} answered HTTP 404"
    assert "s3cr3t" not in str(info.value)
    assert len(http_receiver.requests) == 1, "one attempt per send: the worker retries"


async def test_email_uses_starttls_and_auth_and_says_what_happened(
    smtp_receiver: SmtpReceiver,
) -> None:
    await EmailNotifier(_email(smtp_receiver)).send(NOTE)
    [(envelope, mail)] = smtp_receiver.messages
    assert smtp_receiver.logins == [SMTP_USER]
    assert smtp_receiver.tls_sessions == 1, "the message must travel inside STARTTLS"
    assert envelope.mail_from == "meshploy@example.com"
    assert envelope.rcpt_tos == ["ops@example.com", "dev@example.com"]
    assert mail["Subject"] == "[Meshploy] api failed to deploy <v2> & more"
    assert mail["To"] == "ops@example.com, dev@example.com"
    assert mail["X-Meshploy-Event"] == "deployment.failed"
    text = mail.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert NOTE.message in text and "project: staging" in text and "severity: error" in text


async def test_email_wrong_password_is_refused_without_leaking_it(
    smtp_receiver: SmtpReceiver,
) -> None:
    wrong = "wrong-password-4f8a9b"
    with pytest.raises(NotifierError, match="refused the login") as info:
        await EmailNotifier(_email(smtp_receiver, wrong)).send(NOTE)
    assert wrong not in str(info.value) and smtp_receiver.password not in str(info.value)
    assert smtp_receiver.messages == []


async def test_email_refuses_an_untrusted_certificate(smtp_receiver: SmtpReceiver) -> None:
    cfg = _email(smtp_receiver)
    untrusted = EmailConfig(**{**cfg.__dict__, "ca_pem": None})
    with pytest.raises(NotifierError, match=r"SSL|certificate|talking to"):
        await EmailNotifier(untrusted).send(NOTE)
    assert smtp_receiver.messages == []


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (lambda: SlackConfig(url="ftp://x"), "slack url must be an http"),
        (lambda: DiscordConfig(url="https://d/x", username=""), "1-80 characters"),
        (
            lambda: EmailConfig(host="h", sender="nope", to=("a@b.c",)),
            "sender must be an address",
        ),
        (
            lambda: EmailConfig(host="h", sender="a@b.c", to=("a@b.c",), username="u"),
            "username and password go together",
        ),
        (
            lambda: EmailConfig(
                host="h",
                sender="a@b.c",
                to=("a@b.c",),
                username="u",
                password="p",
                starttls=False,
            ),
            "no AUTH in clear",
        ),
    ],
)
def test_config_validation(config: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        config()


def test_secret_fields_are_the_ones_not_in_repr() -> None:
    assert secret_fields(SlackConfig) == {"url"}
    assert secret_fields(DiscordConfig) == {"url"}
    assert secret_fields(EmailConfig) == {"password"}
    from meshploy_notifiers.webhook import WebhookConfig

    assert secret_fields(WebhookConfig) == {"secret"}
