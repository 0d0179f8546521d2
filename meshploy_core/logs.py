"""Structured (JSON lines) logging with a request id and secret redaction."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

#: The current request's id; set by the app for each request, read by every log record.
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "meshploy_request_id", default=None
)

# Anything that looks like one of our tokens or a sealed value is masked wherever it appears.
_SECRET_PATTERNS = (
    re.compile(r"mp[a-z]_[0-9a-f]{8}_[A-Za-z0-9_-]{20,}"),
    re.compile(r"mp1:[0-9a-f]{16}:[A-Za-z0-9_-]+"),
    re.compile(r"(?i)(password|secret|token|authorization)(\"?\s*[:=]\s*\"?)[^\s\",]+"),
    re.compile(r"(postgres(?:ql)?(?:\+asyncpg)?://[^:/@\s]+:)[^@\s]+@"),
)


def redact(text: str) -> str:
    """Mask token secrets, sealed values, password-like fields and URL passwords."""
    text = _SECRET_PATTERNS[0].sub("[redacted-token]", text)
    text = _SECRET_PATTERNS[1].sub("[redacted-ciphertext]", text)
    text = _SECRET_PATTERNS[2].sub(r"\1\2[redacted]", text)
    return _SECRET_PATTERNS[3].sub(r"\1[redacted]@", text)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        rid = request_id_var.get()
        if rid:
            data["request_id"] = rid
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            data.update({k: redact(v) if isinstance(v, str) else v for k, v in fields.items()})
        if record.exc_info:
            data["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(data, default=str)


def configure_logging(level: str = "INFO", stream: Any = None) -> None:
    """Send every log record to ``stream`` (stderr) as JSON lines at ``level``."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("hypercorn.access", "httpx", "httpcore", "kubernetes"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
