"""Spreading requests over a route's upstreams, and passive health checks.

Round-robin per route, skipping upstreams taken out of rotation. An upstream is taken out
after a connection-level failure (refused, reset, timed out; never for an HTTP 5xx, which is
the application's answer) for ``fail_timeout`` seconds, doubling on each consecutive failure up
to ``max_fail_timeout``. When the window ends it is tried again with live traffic: one success
brings it back fully. If every upstream of a route is out, the one due back first is tried
anyway: refusing outright would turn a short blip into a longer outage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from meshploy_proxy.routes import Route
    from meshploy_proxy.upstream import Upstream


class Balancer:
    """Chooses the upstream for each attempt and keeps the passive-health records."""

    __slots__ = ("fail_timeout", "marked_down", "max_fail_timeout")

    def __init__(self, fail_timeout: float, max_fail_timeout: float) -> None:
        self.fail_timeout = fail_timeout
        self.max_fail_timeout = max(max_fail_timeout, fail_timeout)
        #: How many times an upstream was taken out of rotation (a metric).
        self.marked_down = 0

    def pick(self, route: Route, tried: Sequence[Upstream], now: float) -> Upstream | None:
        """The next upstream to try for ``route``, never one in ``tried``; None when exhausted."""
        ups = route.upstreams
        n = len(ups)
        if n == 1:
            up = ups[0]
            return None if tried else up
        if n == 0:
            return None
        start = route.rr
        route.rr = start + 1 if start + 1 < n else 0
        fallback: Upstream | None = None
        for i in range(n):
            up = ups[(start + i) % n]
            if up in tried:
                continue
            if up.down_until <= now:
                return up
            if fallback is None or up.down_until < fallback.down_until:
                fallback = up
        return fallback

    def failed(self, up: Upstream, now: float) -> None:
        """Record a connection-level failure: take ``up`` out of rotation for a while."""
        up.fails += 1
        if up.fails == 1 or up.down_until <= now:
            self.marked_down += 1
        window = min(self.fail_timeout * (2 ** min(up.fails - 1, 16)), self.max_fail_timeout)
        up.down_until = now + window

    @staticmethod
    def succeeded(up: Upstream) -> None:
        """Record a good exchange: ``up`` is healthy again."""
        if up.fails:
            up.fails = 0
            up.down_until = 0.0
