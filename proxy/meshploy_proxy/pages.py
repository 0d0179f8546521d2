"""Responses the proxy writes itself: short, readable pages for errors and unknown hosts."""

from __future__ import annotations

import html
from http import HTTPStatus

_TEMPLATE = (
    "<!doctype html>\n<html lang=en><head><meta charset=utf-8><title>{code} {reason}</title>"
    "<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:36em;margin:4em auto;"
    "padding:0 1em;color:#222}}small{{color:#777}}</style></head>\n<body><h1>{code} {reason}"
    "</h1>\n<p>{message}</p>\n<p><small>request id {rid} &middot; meshploy edge proxy</small>"
    "</p></body></html>\n"
)

MESSAGES = {
    404: "No application is configured for this host name.",
    408: "The request took too long to arrive.",
    413: "The request is too large.",
    414: "The request URL is too long.",
    431: "The request headers are too large.",
    502: "The application could not be reached or sent an invalid response. "
    "It may be restarting; try again in a moment.",
    503: "The application has no running instance to take this request right now.",
    504: "The application took too long to answer.",
}


def reason_phrase(status: int) -> str:
    """The standard reason phrase for ``status``."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def error_page(
    status: int,
    message: str | None = None,
    *,
    request_id: bytes = b"-",
    keep_alive: bool = False,
    head_only: bool = False,
    extra_headers: bytes = b"",
) -> bytes:
    """A complete HTTP/1.1 response (head and body) for ``status``."""
    reason = reason_phrase(status)
    text = message or MESSAGES.get(status, reason + ".")
    body = _TEMPLATE.format(
        code=status,
        reason=html.escape(reason),
        message=html.escape(text),
        rid=html.escape(request_id.decode("ascii", "replace")),
    ).encode()
    head = (
        (
            f"HTTP/1.1 {status} {reason}\r\n"
            "Content-Type: text/html; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\n"
            "Cache-Control: no-store\r\n"
            f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n"
        ).encode()
        + b"X-Request-Id: "
        + request_id
        + b"\r\n"
        + extra_headers
        + b"\r\n"
    )
    return head if head_only else head + body
