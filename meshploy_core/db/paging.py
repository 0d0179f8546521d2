"""Keyset pagination: stable pages ordered by unique keys, no OFFSET scans.

The API turns a :class:`Page`'s ``next_key`` into an opaque cursor and back; services only
see typed key tuples.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from meshploy_core.errors import ValidationFailed

T = TypeVar("T")
Key = tuple[Any, ...]
MAX_LIMIT = 200


@dataclass(frozen=True)
class PageRequest:
    """Up to ``limit`` items after ``after`` (the last key of the previous page)."""

    limit: int = 50
    after: Key | None = None


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of items and the key to continue from (None on the last page)."""

    items: list[T]
    next_key: Key | None


_KEY_TYPES: dict[type, Callable[[Any], bool]] = {
    datetime: lambda v: isinstance(v, datetime) and v.tzinfo is not None,
    uuid.UUID: lambda v: isinstance(v, uuid.UUID),
    int: lambda v: isinstance(v, int) and not isinstance(v, bool) and -(2**63) <= v < 2**63,
}


def _check_key(after: Key, types: Sequence[type]) -> None:
    if len(after) != len(types) or not all(
        _KEY_TYPES[t](v) for t, v in zip(types, after, strict=True)
    ):
        raise ValidationFailed(
            "cursor does not belong to this list; pass the next_cursor this list returned",
            {"cursor": "not a cursor of this list"},
        )


async def fetch_page(
    session: AsyncSession,
    query: Select[*tuple[Any, ...]],
    order: Sequence[QueryableAttribute[Any]],
    key_of: Callable[[Any], Key],
    page: PageRequest,
    *,
    descending: bool = False,
    scalars: bool = True,
) -> Page[Any]:
    """Run ``query`` ordered by the unique key columns ``order``, one page at a time.

    ``key_of(row)`` returns a row's key (values of ``order`` in order). Rows are ORM objects
    when ``scalars`` is true, else result rows (tuples).
    """
    types = [col.expression.type.python_type for col in order]
    if page.after is not None:
        _check_key(page.after, types)
        cols = tuple_(*order)
        query = query.where(
            cols < tuple_(*page.after) if descending else cols > tuple_(*page.after)
        )
    query = query.order_by(*[c.desc() if descending else c.asc() for c in order])
    query = query.limit(min(max(page.limit, 1), MAX_LIMIT) + 1)
    result = await session.execute(query)
    rows: list[Any] = list(result.scalars().all() if scalars else result.all())
    limit = min(max(page.limit, 1), MAX_LIMIT)
    if len(rows) > limit:
        rows = rows[:limit]
        return Page(items=rows, next_key=key_of(rows[-1]))
    return Page(items=rows, next_key=None)
