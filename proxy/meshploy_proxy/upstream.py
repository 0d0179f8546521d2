"""Upstream addresses, their pooled keep-alive connections, and the response-side protocol.

An :class:`Upstream` is one ``host:port`` (a node's mesh IP and a NodePort). It is interned
by :class:`UpstreamRegistry`, so every route naming the same address shares one idle pool and
one passive-health record, and both survive route-table reloads.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
from typing import TYPE_CHECKING, Protocol, cast

import httptools

if TYPE_CHECKING:
    from collections.abc import Iterator

    from meshploy_proxy.server import ClientConnection
    from meshploy_proxy.tunnel import Tunnel

#: Write-buffer limits on both sides: fewer pause/resume cycles when streaming big bodies,
#: still a small, bounded amount of memory per connection.
WRITE_HIGH = 256 * 1024
WRITE_LOW = 64 * 1024

#: Limits on a response head from an application (bytes, fields). Beyond them the response
#: is a 502: one tenant's broken or hostile app must not grow the shared proxy's memory.
MAX_RESPONSE_HEAD = 64 * 1024
MAX_RESPONSE_FIELDS = 256
#: Reads larger than this that start with a response head pass the body on as a view.
VIEW_MIN = 16 * 1024


class _HeadTooLarge(Exception):
    """Raised from a parser callback: the response head exceeds the limits."""


class _Leftover(Exception):
    """Raised from a parser callback: bytes after the end of a response (a broken upstream)."""


class ResponseSink(Protocol):
    """What an upstream connection reports to (the exchange it is serving)."""

    client: ClientConnection
    upstream_reusable: bool
    splice_wanted: bool
    resp_started: bool

    def response_head(self, conn: UpstreamConnection) -> None: ...
    def response_body(self, chunk: bytes | memoryview) -> None: ...
    def response_complete(self, conn: UpstreamConnection) -> None: ...
    def response_done(self, conn: UpstreamConnection, reusable: bool) -> None: ...
    def response_upgraded(self, conn: UpstreamConnection, rest: bytes) -> None: ...
    def start_relay(self, conn: UpstreamConnection) -> None: ...
    def upstream_broken(self, conn: UpstreamConnection, kind: str) -> None: ...
    def upstream_lost(self, conn: UpstreamConnection) -> None: ...
    def upstream_write_paused(self, paused: bool) -> None: ...


class Upstream:
    """One upstream address: its idle connections and passive-health state."""

    __slots__ = ("_label", "down_until", "fails", "host", "idle", "port", "registry")

    def __init__(self, host: str, port: int, registry: UpstreamRegistry | None = None) -> None:
        self.host = host
        self.port = port
        self.registry = registry
        self._label: str | None = None
        #: Idle connections, most recently used last (LIFO keeps the warmest ones busy);
        #: None until the first one (most of 100k routes' upstreams are never pooled at once).
        self.idle: list[UpstreamConnection] | None = None
        #: Consecutive failures; 0 means healthy.
        self.fails = 0
        #: Monotonic time until which the balancer avoids this upstream.
        self.down_until = 0.0

    @property
    def label(self) -> str:
        """``host:port``."""
        if self._label is None:
            self._label = f"{self.host}:{self.port}"
        return self._label

    def __repr__(self) -> str:
        return f"Upstream({self.label}, fails={self.fails})"

    def acquire(self) -> UpstreamConnection | None:
        """An idle connection that can carry a request, or None.

        One with anything to read (bytes after its last response, a FIN, an error) is closed
        instead: it arrived after the connection was pooled, and the event loop has not
        delivered it yet (a pipelined request is started before the loop polls again).
        Writing a request there would make those bytes its answer, or lose it to the close.
        """
        idle = self.idle
        while idle:
            conn = idle.pop()
            # Open, and nothing to read: no bytes, no FIN, no error (one poll(2)).
            transport = conn.transport
            poller = conn.poller
            if (
                not conn.closed
                and transport is not None
                and not transport.is_closing()
                and (poller is None or not poller.poll(0))
            ):
                return conn
            conn.abort()
        return None

    def release(self, conn: UpstreamConnection, now: float, max_idle: int) -> None:
        """Put a connection whose exchange finished cleanly back in the pool."""
        conn.exchange = None
        idle = self.idle
        if idle is None:
            idle = self.idle = []
        if conn.closed or len(idle) >= max_idle:
            conn.close()
            return
        conn.idle_since = now
        idle.append(conn)
        if self.registry is not None:
            self.registry.pooled.add(self)

    def close_idle(self, older_than: float) -> None:
        """Close idle connections unused since ``older_than`` (monotonic time)."""
        if not self.idle:
            return
        keep = []
        for conn in self.idle:
            if conn.closed:
                continue
            if conn.idle_since < older_than:
                conn.close()
            else:
                keep.append(conn)
        self.idle[:] = keep


class UpstreamRegistry:
    """Interns :class:`Upstream` objects by address for the life of a worker."""

    def __init__(self) -> None:
        self._by_addr: dict[tuple[str, int], Upstream] = {}
        #: Upstreams that have (or recently had) idle connections: what the sweep visits.
        self.pooled: set[Upstream] = set()

    def get(self, host: str, port: int) -> Upstream:
        """The upstream for ``host:port``, created on first use."""
        key = (host, port)
        up = self._by_addr.get(key)
        if up is None:
            up = self._by_addr[key] = Upstream(host, port, self)
        return up

    def __iter__(self) -> Iterator[Upstream]:
        return iter(list(self._by_addr.values()))

    def __len__(self) -> int:
        return len(self._by_addr)

    def sweep(self, older_than: float) -> None:
        """Close pooled connections idle since ``older_than``."""
        for up in list(self.pooled):
            up.close_idle(older_than)
            if not up.idle:
                self.pooled.discard(up)

    def retain(self, keep: set[Upstream]) -> None:
        """Forget (and close the idle connections of) upstreams no route names any more."""
        for key, up in list(self._by_addr.items()):
            if up not in keep:
                up.close_idle(float("inf"))
                self.pooled.discard(up)
                del self._by_addr[key]


class UpstreamConnection(asyncio.Protocol):
    """One TCP connection to an upstream; parses responses and hands them to its exchange."""

    __slots__ = (
        "closed",
        "exchange",
        "fd",
        "head_raw",
        "headers",
        "idle_since",
        "parser",
        "poller",
        "raw_left",
        "read_len",
        "reading_paused",
        "reason",
        "splicing",
        "transport",
        "tunnel",
        "upstream",
    )

    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.exchange: ResponseSink | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        #: Raw bytes of earlier reads holding the current, incomplete response head, and the
        #: size of the read being parsed (together, at least the head's size).
        self.head_raw = self.read_len = 0
        self.reason = b""
        self.idle_since = 0.0
        self.closed = False
        self.reading_paused = False
        #: Body bytes still to come of a Content-Length response being passed through raw.
        self.raw_left = 0
        #: True while a :class:`~meshploy_proxy.splice.SpliceRelay` moves the body (reads
        #: stay paused whatever the client's write buffer says).
        self.splicing = False
        #: Set once the connection carries an Upgrade tunnel instead of HTTP.
        self.tunnel: Tunnel | None = None
        #: The socket's descriptor (-1 if unknown) and a poll object watching it for input
        #: (checked before the connection is taken from the pool).
        self.fd = -1
        self.poller: select.poll | None = None

    # -- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast("asyncio.Transport", transport)
        self.transport.set_write_buffer_limits(WRITE_HIGH, WRITE_LOW)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            self.fd = sock.fileno()
            self.poller = select.poll()
            self.poller.register(self.fd, select.POLLIN)

    def data_received(self, data: bytes) -> None:
        tunnel = self.tunnel
        if tunnel is not None:
            tunnel.from_upstream(data)
            return
        ex = self.exchange
        if ex is None:  # bytes on an idle connection: the upstream is confused, drop it
            self.close()
            return
        if self.raw_left:
            self._raw_body(ex, data)
            return
        client = ex.client
        client.corked = True  # everything this read produces goes out in one write
        in_head = not ex.resp_started
        self.read_len = len(data)
        body: memoryview | None = None
        feed: bytes = data
        if in_head and not self.head_raw and len(data) > VIEW_MIN:
            # A large read holding a whole head: the parser gets the head only, so the body
            # after it (Content-Length) is passed on as a view of this read instead of a copy
            # the parser makes (up to 256 KiB a response). Below VIEW_MIN the copy is cheaper
            # than the fresh parser a raw body needs afterwards.
            end = data.find(b"\r\n\r\n") + 4
            if 4 <= end < len(data):
                feed = data[:end]
                body = memoryview(data)[end:]
        try:
            self.parser.feed_data(feed)
            if body is not None:
                if self.exchange is not ex:
                    if self.exchange is None:
                        self.abort()  # the response ended with its head; more bytes follow
                elif self.raw_left:
                    self._raw_body(ex, body)
                else:
                    self.parser.feed_data(body)  # chunked, or a 1xx and then more
        except httptools.HttpParserUpgrade as exc:
            ex.response_upgraded(self, data[exc.args[0] :])
        except httptools.HttpParserError:
            if self.exchange is ex:
                ex.upstream_broken(self, "bad_response")
            elif self.exchange is None:
                self.abort()  # bytes after the response, in the same read: never pool it
        else:
            if in_head and not ex.resp_started and self.exchange is ex:
                # Still no complete head: count raw bytes too (the parser buffers a header
                # line until it ends, so an endless line never reaches on_header).
                self.head_raw += len(data)
                if self.head_raw > MAX_RESPONSE_HEAD:
                    ex.upstream_broken(self, "bad_response")
        finally:
            client.uncork()
        if self.raw_left and ex.splice_wanted and self.exchange is ex:
            ex.start_relay(self)

    def _raw_body(self, ex: ResponseSink, data: bytes | memoryview) -> None:
        """Part of a Content-Length body: straight to the client, unparsed and uncopied."""
        left = self.raw_left
        n = len(data)
        if n < left:
            self.raw_left = left - n
            ex.response_body(data)
            return
        self.raw_left = 0
        ex.response_body(data if n == left else data[:left])
        self.reset_parser()
        ex.response_done(self, n == left and ex.upstream_reusable)

    def eof_received(self) -> bool | None:
        if self.exchange is None and self.tunnel is None:
            self.closed = True  # idle: out of the pool now, not when connection_lost runs
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.tunnel is not None:
            self.tunnel.close()
            return
        ex = self.exchange
        if ex is not None:
            self.exchange = None
            ex.upstream_lost(self)

    def pause_writing(self) -> None:
        if self.tunnel is not None:
            self.tunnel.upstream_write_paused(True)
        elif self.exchange is not None:
            self.exchange.upstream_write_paused(True)

    def resume_writing(self) -> None:
        if self.tunnel is not None:
            self.tunnel.upstream_write_paused(False)
        elif self.exchange is not None:
            self.exchange.upstream_write_paused(False)

    # -- httptools callbacks ------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.exchange is None:
            raise _Leftover  # a response ended earlier in this read and more bytes follow

    def on_status(self, status: bytes) -> None:
        self.reason = status

    def on_header(self, name: bytes, value: bytes) -> None:
        headers = self.headers
        headers.append((name, value))
        if len(headers) > MAX_RESPONSE_FIELDS:
            raise _HeadTooLarge
        # Bytes are bounded meanwhile by the read (at most 256 KiB) and head_raw; the exact
        # limit is checked once the head is complete.

    def on_headers_complete(self) -> None:
        if self.head_raw + self.read_len > MAX_RESPONSE_HEAD and (
            sum(len(n) + len(v) for n, v in self.headers) > MAX_RESPONSE_HEAD
        ):
            raise _HeadTooLarge
        self.head_raw = 0
        ex = self.exchange
        if ex is not None:
            ex.response_head(self)

    def on_body(self, body: bytes) -> None:
        if self.raw_left:
            self.raw_left -= len(body)
        ex = self.exchange
        if ex is not None:
            ex.response_body(body)
        else:
            self.abort()  # a body after the response ended (e.g. one sent for HEAD)

    def on_message_complete(self) -> None:
        self.raw_left = 0
        ex = self.exchange
        if ex is not None:
            ex.response_complete(self)

    # -- used by the exchange -----------------------------------------------------------

    def reset_parser(self) -> None:
        """A fresh parser: after a HEAD response (llhttp would wait for the announced body)."""
        self.parser = httptools.HttpResponseParser(self)

    def write(self, data: bytes) -> None:
        """Send bytes to the upstream."""
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    def pause_reading(self) -> None:
        """Stop reading from the upstream (the client is slow)."""
        if not self.reading_paused and self.transport is not None and not self.closed:
            self.reading_paused = True
            with contextlib.suppress(RuntimeError):
                self.transport.pause_reading()

    def resume_reading(self) -> None:
        """Read from the upstream again."""
        if self.splicing:
            return  # the relay resumes reading when the body is through
        if self.reading_paused and self.transport is not None and not self.closed:
            self.reading_paused = False
            with contextlib.suppress(RuntimeError):
                self.transport.resume_reading()

    def close(self) -> None:
        """Close the connection (pending writes are flushed first)."""
        self.exchange = None
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.close()

    def abort(self) -> None:
        """Drop the connection at once."""
        self.exchange = None
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.abort()


async def open_connection(
    loop: asyncio.AbstractEventLoop, upstream: Upstream, within: float
) -> UpstreamConnection:
    """Open a new connection to ``upstream`` within ``within`` seconds."""
    async with asyncio.timeout(within):
        _, proto = await loop.create_connection(
            lambda: UpstreamConnection(upstream), upstream.host, upstream.port
        )
    return proto
