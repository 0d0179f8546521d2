"""The client side: an asyncio protocol per connection, parsing with httptools (llhttp).

llhttp is strict: it rejects conflicting Content-Length and Transfer-Encoding, duplicate
Content-Length, bare LF line endings, obsolete line folding and invalid bytes, which closes
the usual request-smuggling doors before anything reaches an upstream. On top of that this
module bounds the request head (bytes, header count, URL length), answers pipelined requests
strictly in order (later ones wait, reading paused, until the current response is done), and
enforces deadlines through a once-a-second sweep instead of a timer per request.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import TYPE_CHECKING, cast

import httptools

from meshploy_proxy.exchange import Exchange
from meshploy_proxy.pages import error_page
from meshploy_proxy.upstream import WRITE_HIGH, WRITE_LOW

if TYPE_CHECKING:
    from meshploy_proxy.context import ProxyContext
    from meshploy_proxy.tunnel import Tunnel

MAX_PIPELINE = 32
LINGER_SECONDS = 2.0


class _Stop(Exception):
    """Raised from a parser callback to stop parsing; ``status`` is answered unless 0."""

    def __init__(self, status: int = 0, message: str | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.message = message


class ClientConnection(asyncio.Protocol):
    """One client (normally Caddy) connection, carrying any number of requests."""

    PAUSE_UPSTREAM = 1
    PAUSE_PENDING = 2
    PAUSE_PIPELINE = 4
    PAUSE_UPGRADE = 8

    __slots__ = (
        "active",
        "began",
        "client_ip",
        "client_ip_b",
        "closed",
        "corked",
        "ctx",
        "deadline",
        "head_bytes",
        "in_head",
        "lingering",
        "out",
        "parser",
        "parsing",
        "paused",
        "queue",
        "streaming",
        "transport",
        "trusted",
        "tunnel",
        "write_paused",
    )

    def __init__(self, ctx: ProxyContext) -> None:
        self.ctx = ctx
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.active: Exchange | None = None
        self.parsing: Exchange | None = None
        self.queue: deque[Exchange] = deque()
        self.tunnel: Tunnel | None = None
        self.client_ip = "-"
        self.client_ip_b = b"-"
        self.trusted = False
        self.closed = False
        self.paused = 0
        self.write_paused = False
        self.streaming = False
        self.in_head = True
        self.began = False
        self.lingering = False
        self.corked = False
        self.out: list[bytes | memoryview] = []
        self.head_bytes = 0
        self.deadline = 0.0

    # -- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast("asyncio.Transport", transport)
        self.transport.set_write_buffer_limits(WRITE_HIGH, WRITE_LOW)
        ctx = self.ctx
        peer = transport.get_extra_info("peername")
        ip = peer[0] if isinstance(peer, tuple) else "unix"
        self.client_ip = ip
        self.client_ip_b = ip.encode()
        self.trusted = ctx.trusted(ip)
        ctx.clients.add(self)
        ctx.metrics.connections += 1
        self.deadline = ctx.loop.time() + ctx.header_timeout
        if ctx.draining:
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.ctx.clients.discard(self)
        if self.tunnel is not None:
            self.tunnel.close()
        ex = self.active
        self.active = None
        self.queue.clear()
        if ex is not None and not ex.finished:
            ex.client_lost()

    def data_received(self, data: bytes) -> None:
        if self.lingering:
            return  # closing after an error: read and discard so the client gets the answer
        tunnel = self.tunnel
        if tunnel is not None:
            tunnel.from_client(data)
            return
        if self.paused & self.PAUSE_UPGRADE:
            ex = self.active
            if ex is not None:
                ex.upgrade_data(data)
            return
        self.began = False
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            self._upgrade_requested(data[exc.args[0] :])
            return
        except httptools.HttpParserInvalidURLError:
            self._reject(400, "The request target is malformed.")
            return
        except httptools.HttpParserCallbackError as exc:
            stop = exc.__context__
            if isinstance(stop, _Stop):
                if stop.status:
                    self._reject(stop.status, stop.message)
                return
            raise
        except httptools.HttpParserError as exc:
            self._reject(400, f"The request is malformed ({exc}).")
            return
        if self.in_head and not self.began and not self.closed:
            # A head still incomplete after a whole read: count the raw bytes too, since
            # the parser buffers a header line until it ends.
            self.head_bytes += len(data)
            if self.head_bytes > self.ctx.max_head_bytes:
                self._reject(431, None)

    def eof_received(self) -> bool | None:
        # The client finished sending. Let a response in flight complete, then close.
        if self.lingering:
            return False
        ex = self.active
        if ex is not None and not ex.finished and ex.req_done:
            ex.keep_alive = False
            return True
        return False

    def pause_writing(self) -> None:
        self.write_paused = True
        if self.tunnel is not None:
            self.tunnel.client_write_paused(True)
        elif self.active is not None and self.active.up is not None:
            self.active.up.pause_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.tunnel is not None:
            self.tunnel.client_write_paused(False)
        elif self.active is not None and self.active.up is not None:
            self.active.up.resume_reading()

    # -- httptools callbacks ------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.closed:
            raise _Stop()
        self.began = True
        self.in_head = True
        self.head_bytes = 0
        ex = Exchange(self)
        self.parsing = ex
        if self.active is None:
            self.active = ex
            self.deadline = self.ctx.loop.time() + self.ctx.header_timeout
        else:
            if len(self.queue) >= MAX_PIPELINE:
                raise _Stop(503, "Too many pipelined requests.")
            self.queue.append(ex)
            self.pause(self.PAUSE_PIPELINE)

    def on_url(self, url: bytes) -> None:
        ex = self.parsing
        assert ex is not None
        ex.target = ex.target + url if ex.target else url
        if len(ex.target) > self.ctx.max_url_bytes:
            raise _Stop(414)

    def on_header(self, name: bytes, value: bytes) -> None:
        ex = self.parsing
        assert ex is not None
        if ex.head_done:
            return  # a trailer field: not forwarded
        headers = ex.headers
        headers.append((name, value))
        self.head_bytes += len(name) + len(value) + 4
        if len(headers) > self.ctx.max_headers or self.head_bytes > self.ctx.max_head_bytes:
            raise _Stop(431)

    def on_headers_complete(self) -> None:
        if self.closed:
            raise _Stop()
        ex = self.parsing
        assert ex is not None
        parser = self.parser
        ex.method = parser.get_method()
        ex.version = parser.get_http_version()
        ex.keep_alive = parser.should_keep_alive()
        ex.upgrade = parser.should_upgrade()
        ex.head_done = True
        self.in_head = False
        self.head_bytes = 0
        if ex is self.active:
            ex.start()
            if self.closed:
                raise _Stop()

    def on_body(self, body: bytes) -> None:
        ex = self.parsing
        if ex is not None:
            ex.request_body(body)

    def on_message_complete(self) -> None:
        self.in_head = True
        self.began = True  # a boundary in this read: its bytes are not all head bytes
        self.head_bytes = 0
        ex = self.parsing
        if ex is not None:
            ex.request_complete()

    # -- used by exchanges ----------------------------------------------------------------

    def write(self, data: bytes | memoryview) -> None:
        """Send bytes to the client (queued while corked)."""
        if self.closed or self.transport is None:
            return
        if self.corked:
            self.out.append(data)
        else:
            self.transport.write(data)

    def uncork(self) -> None:
        """Send what was queued while corked, in one system call."""
        self.corked = False
        out = self.out
        if out:
            self.out = []
            if self.transport is not None and not self.transport.is_closing():
                if len(out) == 1:
                    self.transport.write(out[0])
                else:
                    self.transport.writelines(out)

    def pause(self, reason: int) -> None:
        """Stop reading from the client for ``reason`` (reasons accumulate)."""
        if not self.paused and not self.closed and self.transport is not None:
            with contextlib.suppress(RuntimeError):
                self.transport.pause_reading()
        self.paused |= reason

    def resume(self, reason: int) -> None:
        """Clear ``reason``; reading resumes when no reason is left."""
        if self.paused & reason:
            self.paused &= ~reason
            if not self.paused and not self.closed and self.transport is not None:
                with contextlib.suppress(RuntimeError):
                    self.transport.resume_reading()

    def exchange_finished(self, ex: Exchange) -> None:
        """``ex`` is done: close, or move on to the next pipelined request."""
        if ex is not self.active:
            return
        self.active = None
        self.streaming = False
        if self.tunnel is not None:
            return
        if not ex.keep_alive or self.closed or self.ctx.draining:
            if not ex.req_done:
                self.linger()  # part of the request is unread
            else:
                self.close()
            return
        self.resume(self.PAUSE_UPSTREAM | self.PAUSE_PENDING)
        now = self.ctx.loop.time()
        if self.queue:
            nxt = self.queue.popleft()
            self.active = nxt
            self.deadline = now + self.ctx.read_timeout
            if not self.queue:
                self.resume(self.PAUSE_PIPELINE)
            if nxt.head_done:
                self.ctx.loop.call_soon(self._start_queued, nxt)
        else:
            self.deadline = now + self.ctx.keepalive_timeout

    def _start_queued(self, ex: Exchange) -> None:
        if ex is self.active and not self.closed:
            ex.start()
            if ex.req_done and ex.resp_done:
                ex.finish()

    def _upgrade_requested(self, rest: bytes) -> None:
        ex = self.active
        if ex is None or ex.finished or self.closed:
            self.close()
            return
        self.pause(self.PAUSE_UPGRADE)
        if rest:
            ex.upgrade_data(rest)

    def _reject(self, status: int, message: str | None) -> None:
        """Answer a request we could not parse or accept, and close."""
        if self.closed:
            return
        ex = self.active
        if ex is not None and not ex.finished:
            ex.local(status, message, close=True)
        else:
            self.write(error_page(status, message, request_id=self.ctx.new_request_id()))
        self.linger()

    def on_timeout(self) -> None:
        """The deadline passed (checked by the worker's sweep)."""
        if self.lingering:
            if self.transport is not None:
                self.transport.close()
            return
        if self.tunnel is not None:
            self.tunnel.close()
            return
        ex = self.active
        if ex is None:
            self.close()  # idle keep-alive connection
        else:
            ex.timed_out()
            if not self.closed and self.active is ex:
                self.close()

    def drain(self) -> None:
        """Shutdown: close when idle, otherwise after the current response."""
        if self.tunnel is not None:
            return
        ex = self.active
        if ex is None or not ex.head_done:
            self.close()
        else:
            ex.keep_alive = False

    def linger(self) -> None:
        """Close without losing our last response: FIN now, discard input, close soon.

        Closing a socket with unread input makes the kernel send RST, and a client that is
        still sending (an oversized head, an unwanted body) would lose the error page.
        """
        if self.closed or self.transport is None:
            return
        self.uncork()
        self.closed = True
        self.lingering = True
        self.deadline = self.ctx.loop.time() + LINGER_SECONDS
        try:
            self.transport.write_eof()
        except (OSError, RuntimeError, NotImplementedError):
            self.transport.close()
            return
        if self.paused:
            self.paused = 0
            with contextlib.suppress(RuntimeError):
                self.transport.resume_reading()

    def close(self) -> None:
        """Close after flushing what is buffered."""
        if not self.closed:
            self.uncork()
            self.closed = True
            if self.transport is not None:
                self.transport.close()

    def abort(self) -> None:
        """Drop the connection at once (a response cannot be completed)."""
        self.closed = True
        if self.transport is not None:
            self.transport.abort()
