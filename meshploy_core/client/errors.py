"""Errors of the API client: one :class:`ApiError` for every problem the API answers.

Messages are one readable line (the API's own ``detail``, its status and request id) and
never contain a credential: the client never puts the token in an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from meshploy_core.errors import MeshployError


class ClientError(MeshployError):
    """Base of everything the API client raises."""


class NotConfigured(ClientError):
    """No API URL, token or organization to use; the message says where to set one."""


class ApiUnreachable(ClientError):
    """The API could not be reached, or did not answer in time."""


@dataclass(frozen=True)
class FieldProblem:
    """One invalid input named by a 422 problem."""

    field: str
    detail: str


class ApiError(ClientError):
    """The API answered with an error (an RFC 9457 problem document).

    ``status``, ``type`` (the URN), ``title``, ``detail``, ``request_id`` and ``errors`` are
    the problem's fields; ``problem`` is the whole document as received.
    """

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        problem_type: str | None = None,
        request_id: str | None = None,
        errors: tuple[FieldProblem, ...] = (),
        problem: Mapping[str, Any] | None = None,
    ) -> None:
        self.status = status
        self.title = title
        self.detail = detail
        self.type = problem_type
        self.request_id = request_id
        self.errors = errors
        self.problem: dict[str, Any] = dict(problem or {})
        super().__init__(self.one_line())

    @property
    def slug(self) -> str:
        """The last part of the problem type (``forbidden``, ``not-found``, ...)."""
        return (self.type or "").rsplit(":", 1)[-1]

    def one_line(self) -> str:
        """``<detail> (HTTP <status> <slug>, request <id>)``: what went wrong, in one line."""
        text = " ".join((self.detail or self.title or "error").split())
        if self.errors and not any(e.field in text for e in self.errors):
            # Say which field and which rule, unless the detail already does.
            text += ": " + "; ".join(f"{e.field}: {e.detail}" for e in self.errors[:5])
        where = f"HTTP {self.status}"
        if self.slug:
            where += f" {self.slug}"
        if self.request_id:
            where += f", request {self.request_id}"
        return f"{text} ({where})"

    @classmethod
    def from_response(cls, status: int, reason: str, content_type: str, body: bytes) -> ApiError:
        """Build the error from an HTTP answer (a problem document, or whatever came)."""
        import json

        doc: Any = None
        if "json" in content_type:
            try:
                doc = json.loads(body)
            except ValueError:
                doc = None
        if not isinstance(doc, dict):
            text = body.decode("utf-8", "replace").strip()
            snippet = " ".join(text.split())[:200] or None
            return cls(status, reason or "error", snippet)
        errors = tuple(
            FieldProblem(str(e.get("field", "?")), str(e.get("detail", "")))
            for e in doc.get("errors") or ()
            if isinstance(e, dict)
        )
        return cls(
            int(doc.get("status") or status),
            str(doc.get("title") or reason or "error"),
            str(doc["detail"]) if doc.get("detail") is not None else None,
            problem_type=str(doc["type"]) if doc.get("type") else None,
            request_id=str(doc["request_id"]) if doc.get("request_id") else None,
            errors=errors,
            problem=doc,
        )
