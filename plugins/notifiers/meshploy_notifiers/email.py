"""Email notifications over SMTP: STARTTLS (required by default) and AUTH when a username
is given (``aiosmtplib``). The password is a secret field: stored sealed, never shown, never
in an error."""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib

from meshploy_core.plugins.contracts import Notification, NotifierError

ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")


@dataclass(frozen=True)
class EmailConfig:
    """Where to send mail from and to, and how to reach the SMTP server."""

    host: str
    sender: str
    to: tuple[str, ...]
    port: int = 587
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    #: STARTTLS before anything else (AUTH is never sent in clear); off only for a local
    #: relay that has no TLS.
    starttls: bool = True
    #: PEM certificates to trust instead of the system's (a private CA, a self-signed relay).
    ca_pem: str | None = None
    timeout: float = 15.0

    def __post_init__(self) -> None:
        if not self.host or len(self.host) > 253 or any(c.isspace() for c in self.host):
            raise ValueError("email host must be the SMTP server's host name or address")
        if not 1 <= self.port <= 65535:
            raise ValueError("email port must be 1-65535 (587 for submission with STARTTLS)")
        if not ADDRESS.match(self.sender):
            raise ValueError("email sender must be an address like alerts@example.com")
        if not self.to or not all(ADDRESS.match(a) for a in self.to) or len(self.to) > 50:
            raise ValueError("email to must list 1-50 addresses like ops@example.com")
        if (self.username is None) != (self.password is None):
            raise ValueError("email username and password go together")
        if self.username is not None and not self.starttls:
            raise ValueError("email starttls must stay on when logging in (no AUTH in clear)")


def message(config: EmailConfig, note: Notification) -> EmailMessage:
    """The mail for ``note``."""
    mail = EmailMessage()
    mail["Subject"] = f"[Meshploy] {note.title}"
    mail["From"] = config.sender
    mail["To"] = ", ".join(config.to)
    mail["Date"] = formatdate(note.occurred_at.timestamp(), usegmt=True)
    mail["Message-ID"] = make_msgid(domain=config.sender.rpartition("@")[2])
    mail["X-Meshploy-Event"] = note.event
    lines = [note.title, "", note.message, "", f"event: {note.event}", f"severity: {note.severity}"]
    if note.project:
        lines.append(f"project: {note.project}")
    if note.service:
        lines.append(f"service: {note.service}")
    lines.append(f"at: {note.occurred_at.isoformat()}")
    if note.url:
        lines.append(note.url)
    mail.set_content("\n".join(lines) + "\n")
    return mail


class EmailNotifier:
    """Sends one mail per notification."""

    def __init__(self, config: EmailConfig) -> None:
        self.config = config

    async def send(self, notification: Notification) -> None:
        """Deliver through the SMTP server; NotifierError (no password in it) on failure."""
        cfg = self.config
        context = ssl.create_default_context(cadata=cfg.ca_pem) if cfg.ca_pem else None
        try:
            await aiosmtplib.send(
                message(cfg, notification),
                hostname=cfg.host,
                port=cfg.port,
                username=cfg.username,
                password=cfg.password,
                start_tls=cfg.starttls,
                use_tls=False,
                tls_context=context,
                timeout=cfg.timeout,
            )
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise NotifierError(f"{cfg.host}:{cfg.port} refused the login ({exc.code})") from None
        except aiosmtplib.SMTPResponseException as exc:
            raise NotifierError(
                f"{cfg.host}:{cfg.port} refused the mail: {exc.code} {exc.message[:200]}"
            ) from None
        except (aiosmtplib.SMTPException, OSError, ssl.SSLError) as exc:
            raise NotifierError(f"{type(exc).__name__} talking to {cfg.host}:{cfg.port}") from None


@dataclass(frozen=True)
class EmailFactory:
    """The ``email`` notifier kind."""

    kind: str = "email"
    description: str = "Email over SMTP with STARTTLS and AUTH"
    config_type: type[EmailConfig] = EmailConfig

    def create(self, config: EmailConfig) -> EmailNotifier:
        """A notifier mailing ``config.to``."""
        return EmailNotifier(config)
