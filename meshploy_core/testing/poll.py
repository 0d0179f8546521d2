"""The one way Meshploy's tests (and plugin authors' conformance tests) wait: poll with a
deadline, never sleep a fixed time."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")


@overload
async def eventually(
    probe: Callable[[], Awaitable[T | None]],
    timeout: float = ...,  # noqa: ASYNC109 (a deadline for the polling, not for one call)
    what: str = ...,
    *,
    interval: float = ...,
) -> T: ...


@overload
async def eventually(
    probe: Callable[[], T | None],
    timeout: float = ...,  # noqa: ASYNC109
    what: str = ...,
    *,
    interval: float = ...,
) -> T: ...


async def eventually(
    probe: Callable[[], Any],
    timeout: float = 10.0,  # noqa: ASYNC109
    what: str = "",
    *,
    interval: float = 0.05,
) -> Any:
    """Call ``probe()`` (sync or async) until it returns something truthy, and return that.

    An exception from the probe counts as "not yet" and is reported if time runs out, except
    ``AssertionError``: a probe asserts to say "this will never happen", which fails at once.
    On timeout raises ``AssertionError`` saying what was awaited and what was last seen.
    """
    deadline = time.monotonic() + timeout
    last: Any = "<no answer yet>"
    while True:
        try:
            value = probe()
            if inspect.isawaitable(value):
                value = await value
        except AssertionError:
            raise
        except Exception as exc:
            last = f"{type(exc).__name__}: {exc}"
        else:
            if value:
                return value
            last = value
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout:g}s waiting for {what or probe}; last got {last!r}"
            )
        await asyncio.sleep(interval)
