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
    """One row of the ``routes`` table, ready to serve.

    Routes of one host form a chain through ``next``, longest prefix first, so the table's
    dict values are routes themselves (no tuple per host: memory matters at 100k routes).
    """

    __slots__ = ("id", "key", "next", "plen", "prefix", "rr", "upstreams", "wild")

    def __init__(
        self, id: str, key: bytes, wild: bool, prefix: bytes, upstreams: tuple[Upstream, ...]
    ) -> None:
        self.id = id
        #: The host as looked up: lower-case ASCII, without ``*.`` for wildcards.
        self.key = key
        self.wild = wild
        self.prefix = prefix
        self.plen = len(prefix)
        self.upstreams = upstreams
        #: Round-robin cursor (see :class:`~meshploy_proxy.balancer.Balancer`).
        self.rr = 0
        self.next: Route | None = None

    @property
    def hostname(self) -> str:
        """The hostname as stored (``*.example.com`` for wildcards)."""
        return ("*." if self.wild else "") + self.key.decode()

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


def host_key(hostname: str) -> tuple[bytes, bool]:
    """The lookup key of a stored hostname and whether it is a wildcard."""
    name = normalize_hostname(hostname)
    if name.startswith("*."):
        return _host_bytes(name[2:]), True
    return _host_bytes(name), False


def _chain(routes: list[Route]) -> Route | None:
    routes.sort(key=lambda r: r.plen, reverse=True)
    head: Route | None = None
    for route in reversed(routes):
        route.next = head
        head = route
    return head


def _walk(head: Route | None) -> list[Route]:
    out = []
    while head is not None:
        out.append(head)
        head = head.next
    return out


class RouteTable:
    """All routes of the platform, indexed for constant-time lookup by host."""

    __slots__ = ("_by_id", "exact", "wildcard")

    def __init__(self) -> None:
        self.exact: dict[bytes, Route] = {}
        self.wildcard: dict[bytes, Route] = {}
        self._by_id: dict[str, Route] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def routes(self) -> Iterable[Route]:
        """Every route (any order)."""
        return self._by_id.values()

    def lookup(self, host: bytes, target: bytes) -> Route | None:
        """The route serving ``host`` (lower-case, no port) and ``target``, or None."""
        route = self.exact.get(host)
        while route is not None:
            if route.plen == 1 or route.matches(target):
                return route
            route = route.next
        dot = host.find(b".")
        if dot > 0:
            route = self.wildcard.get(host[dot + 1 :])
            while route is not None:
                if route.plen == 1 or route.matches(target):
                    return route
                route = route.next
        return None

    def replace_host(self, hostname: str, routes: Iterable[Route]) -> None:
        """Make ``routes`` the complete set for ``hostname`` (none: the host is gone).

        A route id seen under another host before (its hostname was changed by an UPDATE) is
        removed from there, so a rename needs only the new name's notification.
        """
        key, wild = host_key(hostname)
        new = list(routes)
        for route in new:
            old = self._by_id.get(route.id)
            if old is not None and (old.key != key or old.wild != wild):
                self._remove(old)
        table = self.wildcard if wild else self.exact
        for route in _walk(table.get(key)):
            self._by_id.pop(route.id, None)
        head = _chain(new)
        if head is None:
            table.pop(key, None)
            return
        table[head.key] = head
        for route in new:
            self._by_id[route.id] = route

    def _remove(self, route: Route) -> None:
        table = self.wildcard if route.wild else self.exact
        rest = [r for r in _walk(table.get(route.key)) if r.id != route.id]
        head = _chain(rest)
        if head is None:
            table.pop(route.key, None)
        else:
            table[route.key] = head
        self._by_id.pop(route.id, None)

    def add_all(self, routes: Iterable[Route]) -> None:
        """Add routes, keeping those already present for the same hosts (bulk loads)."""
        for route in routes:
            table = self.wildcard if route.wild else self.exact
            head = table.get(route.key)
            if head is None and route.id not in self._by_id:  # the common case: a new host
                route.next = None
                table[route.key] = route
                self._by_id[route.id] = route
                continue
            existing = [r for r in _walk(head) if r.id != route.id]
            self.replace_host(route.hostname, [*existing, route])


class RouteBuilder:
    """Turns database rows into :class:`Route` objects, sharing identical upstream lists."""

    def __init__(self, resolve: Resolver) -> None:
        self._resolve = resolve
        self._lists: dict[str, tuple[Upstream, ...]] = {}
        self._prefixes: dict[bytes, bytes] = {}
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
        key, wild = host_key(row.hostname)
        prefix = normalize_prefix(row.path_prefix)
        prefix = self._prefixes.setdefault(prefix, prefix)  # share b"/" and friends
        return Route(row.id, key, wild, prefix, self.upstreams(row.upstreams))


class Router:
    """The worker's current table plus what operations need to know about it."""

    __slots__ = ("loaded", "synced_at", "table")

    def __init__(self) -> None:
        self.table = RouteTable()
        #: True once the first full load finished: /readyz, and no more 503 "starting".
        self.loaded = False
        #: Wall-clock time the table was last known to match the database (0: never).
        self.synced_at = 0.0
