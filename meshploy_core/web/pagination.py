"""Cursor pagination: ``?limit=&cursor=`` in, ``{"items": [...], "next_cursor": ...}`` out.

A cursor is opaque to clients (base64url of the last item's sort key, typed); a client
passes back the ``next_cursor`` it was given and stops when it is null.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from meshploy_core.db import paging
from meshploy_core.errors import ValidationFailed

T = TypeVar("T")
S = TypeVar("S")
DEFAULT_LIMIT = 50
MAX_CURSOR = 512


class PageQuery(BaseModel):
    """The query string of a list operation."""

    model_config = ConfigDict(extra="ignore")

    limit: int = Field(DEFAULT_LIMIT, ge=1, le=paging.MAX_LIMIT, description="Page size.")
    cursor: str | None = Field(
        None, max_length=MAX_CURSOR, description="The next_cursor of the previous page."
    )


class Page(BaseModel, Generic[T]):
    """One page of a list; fetch the next with ``?cursor=<next_cursor>`` until it is null."""

    items: list[T]
    next_cursor: str | None


def _encode_part(value: Any) -> str:
    if isinstance(value, datetime):
        return "d" + value.isoformat()
    if isinstance(value, uuid.UUID):
        return "u" + value.hex
    if isinstance(value, int):
        return "i" + str(value)
    raise TypeError(f"cannot put {type(value).__name__} in a cursor")


def _decode_part(text: str) -> Any:
    tag, body = text[:1], text[1:]
    if tag == "d":
        return datetime.fromisoformat(body)
    if tag == "u":
        return uuid.UUID(hex=body)
    if tag == "i":
        return int(body)
    raise ValueError("unknown cursor part")


def encode_cursor(key: paging.Key) -> str:
    """Opaque cursor text for a page key."""
    raw = json.dumps([_encode_part(v) for v in key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> paging.Key:
    """The page key inside ``cursor``; ValidationFailed if it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        parts = json.loads(raw)
        if not isinstance(parts, list) or not all(isinstance(p, str) for p in parts):
            raise ValueError("not a list of parts")
        return tuple(_decode_part(p) for p in parts)
    except (binascii.Error, ValueError, UnicodeDecodeError, OverflowError):
        raise ValidationFailed(
            "cursor is not valid; pass the next_cursor value of the previous page unchanged",
            {"cursor": "not a cursor issued by this API"},
        ) from None


def page_request(query: PageQuery) -> paging.PageRequest:
    """The service-level page request for a list query."""
    after = decode_cursor(query.cursor) if query.cursor else None
    return paging.PageRequest(limit=query.limit, after=after)


def page_of(result: paging.Page[S], convert: Callable[[S], T]) -> Page[T]:
    """Convert a service page into an API page."""
    next_cursor = encode_cursor(result.next_key) if result.next_key is not None else None
    return Page(items=[convert(item) for item in result.items], next_cursor=next_cursor)
