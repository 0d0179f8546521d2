"""The in-memory route table: Host (+ optional path prefix) -> upstreams, no I/O on lookup.

Exact hosts live in one dict and wildcard hosts (``*.example.com``) in another keyed by the
suffix after ``*.``, both keyed by the lower-case host as bytes, so a lookup is one or two
dict probes on the bytes the HTTP parser produced. A wildcard matches exactly one label
(``a.example.com``, not ``a.b.example.com`` nor ``example.com``), like TLS wildcard
certificates and Caddy's host matcher, so a route never serves a name its certificate cannot
cover. Within a host, the longest matching path prefix wins; prefixes match whole segments
(``/api`` matches ``/api``, ``/api/x`` and ``/api?q``, not ``/apix``). Paths are forwarded
unchanged.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from meshploy_proxy.upstream import Upstream

log = logging.getLogger(__name__)

#: Resolves (host, port) to the shared :class:`Upstream` object.
Resolver = Callable[[str, int], Upstream]


class Route:
    """One row of the ``routes`` table, ready to serve."""

    __slots__ = ("hostname", "id", "plen", "prefix", "rr", "upstreams")

    def __init__(
        self, id: str, hostname: str, prefix: bytes, upstreams: tuple[Upstream, ...]
    ) -> None:
        self.id = id
        self.hostname = hostname
        self.prefix = prefix
        self.plen = len(prefix)
        self.upstreams = upstreams
        #: Round-robin cursor (see :class:`~meshploy_proxy.balancer.Balancer`).
        self.rr = 0

    def __repr__(self) -> str:
        return f"Route({self.hostname}{self.prefix.decode()} -> {list(self.upstreams)})"

    def matches(self, target: bytes) -> bool:
        """Whether the request target (path and query) falls under this route's prefix."""
        plen = self.plen
        if plen == 1:
            return True
        if not target.startswith(self.prefix):
            return False
        return len(target) == plen or target[plen] in b"/?"


@dataclass(frozen=True)
class RouteRow:
    """A route as read from the database, before upstreams are resolved."""

    id: str
    hostname: str
    path_prefix: str
    upstreams: str  # the jsonb column as text


def normalize_hostname(name: str) -> str:
    """Lower-case, without a trailing dot: the form both the table and lookups use."""
    return name.strip().lower().rstrip(".")


def normalize_prefix(prefix: str) -> bytes:
    """``/api/`` and ``api`` both become ``/api``; empty becomes ``/``."""
    text = "/" + prefix.strip().strip("/")
    return text.encode("utf-8", "surrogateescape")


def _host_bytes(name: str) -> bytes:
    """Hosts arrive on the wire as ASCII (IDNs in punycode); store them the same way."""
    if name.isascii():
        return name.encode()
    try:
        return name.encode("idna")
    except UnicodeError:
        return name.encode("utf-8")


def _match(routes: tuple[Route, ...], target: bytes) -> Route | None:
    for route in routes:  # longest prefix first; "/" (always matches) last
        if route.matches(target):
            return route
    return None


class RouteTable:
    """All routes of the platform, indexed for constant-time lookup by host."""

    __slots__ = ("_by_id", "exact", "wildcard")

    def __init__(self) -> None:
        self.exact: dict[bytes, tuple[Route, ...]] = {}
        self.wildcard: dict[bytes, tuple[Route, ...]] = {}
        self._by_id: dict[str, Route] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def routes(self) -> Iterable[Route]:
        """Every route (any order)."""
        return self._by_id.values()

    def lookup(self, host: bytes, target: bytes) -> Route | None:
        """The route serving ``host`` (lower-case, no port) and ``target``, or None."""
        routes = self.exact.get(host)
        if routes is not None:
            route = _match(routes, target)
            if route is not None:
                return route
        dot = host.find(b".")
        if dot > 0:
            routes = self.wildcard.get(host[dot + 1 :])
            if routes is not None:
                return _match(routes, target)
        return None

    def _slot(self, hostname: str) -> tuple[dict[bytes, tuple[Route, ...]], bytes]:
        if hostname.startswith("*."):
            return self.wildcard, _host_bytes(hostname[2:])
        return self.exact, _host_bytes(hostname)

    def replace_host(self, hostname: str, routes: Iterable[Route]) -> None:
        """Make ``routes`` the complete set for ``hostname`` (none: the host is gone).

        A route id seen under another host before (its hostname was changed by an UPDATE) is
        removed from there, so a rename needs only the new name's notification.
        """
        hostname = normalize_hostname(hostname)
        new = list(routes)
        for route in new:
            old = self._by_id.get(route.id)
            if old is not None and old.hostname != hostname:
                self._remove_id(old)
        table, key = self._slot(hostname)
        for route in table.get(key, ()):
            self._by_id.pop(route.id, None)
        if new:
            new.sort(key=lambda r: r.plen, reverse=True)
            table[key] = tuple(new)
            for route in new:
                self._by_id[route.id] = route
        else:
            table.pop(key, None)

    def _remove_id(self, route: Route) -> None:
        table, key = self._slot(route.hostname)
        remaining = tuple(r for r in table.get(key, ()) if r.id != route.id)
        if remaining:
            table[key] = remaining
        else:
            table.pop(key, None)
        self._by_id.pop(route.id, None)

    def add_all(self, routes: Iterable[Route]) -> None:
        """Add routes, keeping those already present for the same hosts (bulk loads)."""
        grouped: dict[str, list[Route]] = {}
        for route in routes:
            grouped.setdefault(route.hostname, []).append(route)
        for hostname, group in grouped.items():
            table, key = self._slot(hostname)
            ids = {r.id for r in group}
            existing = [r for r in table.get(key, ()) if r.id not in ids]
            self.replace_host(hostname, existing + group)


class RouteBuilder:
    """Turns database rows into :class:`Route` objects, sharing identical upstream lists."""

    def __init__(self, resolve: Resolver) -> None:
        self._resolve = resolve
        self._lists: dict[str, tuple[Upstream, ...]] = {}
        self.invalid = 0

    def upstreams(self, text: str) -> tuple[Upstream, ...]:
        """Parse (once per distinct JSON text) and resolve an upstreams list."""
        cached = self._lists.get(text)
        if cached is not None:
            return cached
        result: list[Upstream] = []
        try:
            items = json.loads(text)
        except ValueError:
            items = None
        if not isinstance(items, list):
            self.invalid += 1
            items = []
        for item in items:
            host = item.get("host") if isinstance(item, dict) else None
            port = item.get("port") if isinstance(item, dict) else None
            if isinstance(port, str) and port.isdigit():
                port = int(port)
            if (
                not isinstance(host, str)
                or not host
                or not isinstance(port, int)
                or isinstance(port, bool)
                or not 0 < port < 65536
            ):
                self.invalid += 1
                continue
            result.append(self._resolve(host, port))
        value = self._lists[text] = tuple(result)
        return value

    def build(self, row: RouteRow) -> Route:
        """One route from one row."""
        return Route(
            row.id,
            normalize_hostname(row.hostname),
            normalize_prefix(row.path_prefix),
            self.upstreams(row.upstreams),
        )


class Router:
    """The worker's current table plus what operations need to know about it."""

    __slots__ = ("loaded", "synced_at", "table")

    def __init__(self) -> None:
        self.table = RouteTable()
        #: True once the first full load finished: /readyz, and no more 503 "starting".
        self.loaded = False
        #: Wall-clock time the table was last known to match the database (0: never).
        self.synced_at = 0.0
