"""One proxied request: route it, pick an upstream, stream both bodies, retry when safe.

An :class:`Exchange` is created when a request begins and lives until both the request and
the response have been fully transferred. Bodies are never held whole: request body chunks go
to the upstream as they arrive (a small buffer only while the upstream connection is being
opened), response chunks go to the client as they arrive, and each side's write buffer
pauses the other side's reads.

When the upstream connection fails before a response head, :mod:`meshploy_proxy.retry`
decides what happens next (a fresh connection, the next upstream, or an error page); this
module carries it out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from meshploy_proxy.headers import (
    BODY_CHUNKED,
    BODY_NONE,
    LAST_CHUNK,
    OUT_CHUNKED,
    OUT_NONE,
    PreparedRequest,
    Rejected,
    build_response_head,
    chunk,
    prepare_request,
)
from meshploy_proxy.pages import error_page
from meshploy_proxy.retry import (
    IDEMPOTENT,
    KeptBody,
    Next,
    after_failure,
    not_retried_message,
    replayable,
)
from meshploy_proxy.splice import SPLICE_MIN, SpliceRelay
from meshploy_proxy.tunnel import Tunnel
from meshploy_proxy.upstream import open_connection

if TYPE_CHECKING:
    from meshploy_proxy.routes import Route
    from meshploy_proxy.server import ClientConnection
    from meshploy_proxy.upstream import Upstream, UpstreamConnection

PENDING_LIMIT = 256 * 1024
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class Exchange:
    """A request/response pair travelling through the proxy."""

    __slots__ = (
        "attempts",
        "body_sent",
        "bytes_in",
        "bytes_out",
        "client",
        "ctx",
        "error",
        "finished",
        "head_done",
        "headers",
        "interim",
        "keep_alive",
        "kept",
        "method",
        "out",
        "pending",
        "pending_size",
        "prepared",
        "relay",
        "req_done",
        "resp_done",
        "resp_started",
        "reused",
        "route",
        "splice_wanted",
        "status",
        "t0",
        "target",
        "tried",
        "tunnel_pending",
        "until_close",
        "up",
        "upgrade",
        "upstream",
        "upstream_reusable",
        "version",
    )

    def __init__(self, client: ClientConnection) -> None:
        self.client = client
        self.ctx = client.ctx
        self.target = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.method = b""
        self.version = "1.1"
        self.keep_alive = True
        self.upgrade = False
        self.head_done = self.req_done = self.resp_started = self.resp_done = False
        self.finished = self.interim = self.body_sent = self.reused = self.until_close = False
        self.upstream_reusable = self.splice_wanted = False
        self.relay: SpliceRelay | None = None
        self.prepared: PreparedRequest | None = None
        self.route: Route | None = None
        self.up: UpstreamConnection | None = None
        self.upstream: Upstream | None = None
        self.tried: list[Upstream] = []
        self.attempts = 0
        self.pending: list[bytes] | None = None
        self.pending_size = 0
        #: The body so far, kept for a retry (idempotent requests with a small body).
        self.kept: KeptBody | None = None
        self.tunnel_pending = b""
        self.status = 0
        self.out = OUT_NONE
        self.bytes_in = self.bytes_out = 0
        self.t0 = 0.0
        self.error: str | None = None

    # -- request side -------------------------------------------------------------------

    def start(self) -> None:
        """The head is complete and this exchange is the connection's active one: route it."""
        ctx = self.ctx
        client = self.client
        self.t0 = now = ctx.loop.time()
        client.deadline = now + ctx.read_timeout
        rid = ctx.new_request_id()
        if not ctx.router.loaded:
            self.local(503, "The proxy is starting; try again in a moment.", rid, close=True)
            return
        try:
            prep = prepare_request(
                self.method,
                self.target,
                self.headers,
                self.version,
                self.upgrade,
                client.client_ip_b,
                client.trusted,
                rid,
            )
        except Rejected as exc:
            self.local(exc.status, exc.message, rid, close=True)
            return
        self.prepared = prep
        route = ctx.router.table.lookup(prep.host_key, prep.target)
        if route is None:
            self.local(404, None, prep.request_id)
            return
        if not route.upstreams:
            self.local(503, None, prep.request_id)
            return
        self.route = route
        if prep.body != BODY_NONE and self.method in IDEMPOTENT:
            self.kept = KeptBody()
        if ctx.draining:
            self.keep_alive = False
        if prep.expect_continue and not self.req_done:
            client.write(_CONTINUE)
        self.attempt()

    def request_body(self, data: bytes) -> None:
        """A chunk of the request body (already de-chunked by the parser)."""
        self.bytes_in += len(data)
        if self.finished or self.resp_done:
            return  # answered already (an error or an early response): discard
        kept = self.kept
        if kept is not None and not kept.add(data):
            self.kept = None  # too large to keep: this request will not be retried
        up = self.up
        if up is not None:
            prep = self.prepared
            assert prep is not None
            up.write(chunk(data) if prep.body == BODY_CHUNKED else data)
            self.body_sent = True
            self.client.deadline = self.ctx.loop.time() + self.ctx.read_timeout
            return
        if self.pending is None:
            self.pending = []
        self.pending.append(data)
        self.pending_size += len(data)
        if self.pending_size > PENDING_LIMIT:
            self.client.pause(self.client.PAUSE_PENDING)

    def request_complete(self) -> None:
        """The request message ended."""
        self.req_done = True
        up = self.up
        if up is not None and self.prepared is not None and self.prepared.body == BODY_CHUNKED:
            up.write(LAST_CHUNK)
        if self.resp_done:
            self.finish()

    def upgrade_data(self, data: bytes) -> None:
        """Bytes the client sent after an Upgrade request head, before the upstream's 101."""
        self.tunnel_pending += data

    # -- choosing and talking to an upstream --------------------------------------------

    def attempt(self) -> None:
        """Send the request to the next upstream the balancer offers."""
        ctx = self.ctx
        route = self.route
        assert route is not None
        up = ctx.balancer.pick(route, self.tried, ctx.loop.time())
        if up is None:
            self.local(self.status_for_error(), None)
            return
        self.tried.append(up)
        self.upstream = up
        self.attempts += 1
        conn = up.acquire()
        if conn is not None:
            self.reused = True
            self.bind(conn)
        else:
            self.reused = False
            ctx.loop.create_task(self.connect(up))

    def status_for_error(self) -> int:
        """504 after a timeout, 502 otherwise."""
        return 504 if self.error in ("connect_timeout", "read_timeout") else 502

    async def connect(self, up: Upstream) -> None:
        """Open a new connection to ``up`` and send the request on it."""
        ctx = self.ctx
        try:
            conn = await open_connection(ctx.loop, up, ctx.connect_timeout)
        except TimeoutError:
            kind = "connect_timeout"
        except OSError:
            kind = "connect_refused"
        else:
            if self.finished or self.client.closed or self.resp_done:
                up.release(conn, ctx.loop.time(), ctx.max_idle)
            else:
                self.bind(conn)
            return
        ctx.balancer.failed(up, ctx.loop.time())
        if not self.finished:
            self.failed(kind, connect_failure=True)
        else:
            ctx.metrics.upstream_error(kind)

    def bind(self, conn: UpstreamConnection) -> None:
        """Use ``conn`` for this exchange: write the head and whatever body has arrived."""
        prep = self.prepared
        assert prep is not None
        conn.exchange = self
        conn.headers = []
        conn.head_raw = 0
        self.up = conn
        client = self.client
        if not client.write_paused:
            conn.resume_reading()
        else:
            conn.pause_reading()
        conn.write(prep.head)
        pending = self.pending
        if pending:
            framed = [chunk(c) for c in pending] if prep.body == BODY_CHUNKED else pending
            conn.write(b"".join(framed))
            self.body_sent = True
            self.pending = None
            self.pending_size = 0
            client.resume(client.PAUSE_PENDING)
        if self.req_done and prep.body == BODY_CHUNKED:
            conn.write(LAST_CHUNK)
        client.deadline = self.ctx.loop.time() + self.ctx.read_timeout

    def upstream_write_paused(self, paused: bool) -> None:
        """The upstream connection's write buffer filled (or drained)."""
        client = self.client
        if paused:
            client.pause(client.PAUSE_UPSTREAM)
        else:
            client.resume(client.PAUSE_UPSTREAM)

    def failed(self, kind: str, *, connect_failure: bool = False) -> None:
        """The upstream failed before a response head: retry when safe, else answer 502/504."""
        ctx = self.ctx
        ctx.metrics.upstream_error(kind)
        self.error = kind
        conn = self.up
        if conn is not None:
            self.up = None
            conn.abort()
        if self.finished or self.client.closed:
            self.finish()
            return
        up = self.upstream
        pooled = self.reused
        self.reused = False
        if up is not None and not pooled and not connect_failure:
            ctx.balancer.failed(up, ctx.loop.time())  # (connect() counted a connect failure)
        prep = self.prepared
        again = prep is not None and replayable(
            self.method, has_body=prep.body != BODY_NONE, body_kept=self.kept is not None
        )
        step = after_failure(
            connect_failure=connect_failure,
            pooled=pooled,
            replayable=again,
            attempts=self.attempts,
            max_attempts=ctx.max_attempts,
        )
        if step is Next.FRESH_CONNECTION and up is not None:
            ctx.metrics.retries += 1
            self.attempts += 1
            self.rewind()
            ctx.loop.create_task(self.connect(up))
        elif step is Next.NEXT_UPSTREAM:
            ctx.metrics.retries += 1
            self.rewind()
            self.attempt()
        elif step is Next.NOT_RETRIED:
            self.local(502, not_retried_message(self.method))
        else:
            self.local(self.status_for_error(), None)

    def rewind(self) -> None:
        """Queue the kept body (all of it that arrived) to go out on the next connection."""
        kept = self.kept
        if kept is not None and kept.chunks:
            self.pending = list(kept.chunks)
            self.pending_size = kept.size
        self.body_sent = False

    # -- response side (called by the upstream connection) ------------------------------

    def response_head(self, conn: UpstreamConnection) -> None:
        """The upstream's response head arrived: forward it."""
        # A head proves the connection was alive: a failure from now on is not staleness, and
        # the request is answered (or given up), never sent again.
        self.reused = False
        self.kept = None
        status = conn.parser.get_status_code()
        if status < 200 and status != 101:
            conn.headers = []
            self.interim = True  # 100/103: dropped (we answered Expect ourselves)
            return
        self.interim = False
        if status == 101 and not self.upgrade:
            self.upstream_broken(conn, "bad_response")
            return
        client = self.client
        ctx = self.ctx
        try:
            head = build_response_head(
                status,
                conn.reason,
                conn.headers,
                head_request=self.method == b"HEAD",
                client_11=self.version == "1.1",
                keep_alive=self.keep_alive
                and self.req_done
                and not self.upgrade
                and not ctx.draining,
            )
        except ValueError:
            self.upstream_broken(conn, "bad_response")
            return
        conn.headers = []
        self.upstream_reusable = conn.parser.should_keep_alive()
        self.status = status
        self.out = head.out
        self.keep_alive = head.keep_alive
        self.until_close = head.until_close
        self.resp_started = True
        client.write(head.data)
        if self.upstream is not None:
            ctx.balancer.succeeded(self.upstream)
        if head.event_stream:
            client.streaming = True
        client.deadline = ctx.loop.time() + (
            ctx.stream_idle_timeout if client.streaming else ctx.read_timeout
        )
        if self.method == b"HEAD" and status != 101:
            conn.reset_parser()  # llhttp would wait for the body a HEAD response lacks
            self.response_done(conn, self.upstream_reusable)
        elif head.length > 0:
            conn.raw_left = head.length  # pass the body through unparsed once headers are done
            self.splice_wanted = ctx.splice and head.length >= SPLICE_MIN

    def start_relay(self, conn: UpstreamConnection) -> None:
        """The head went out and a large body follows: let the kernel move the rest."""
        self.splice_wanted = False
        relay = SpliceRelay.start(self, conn)
        if relay is not None:
            self.relay = relay
            relay.pump()

    def response_body(self, data: bytes | memoryview) -> None:
        """A chunk of the response body (a view of a read only when passed through raw)."""
        out = self.out
        if out == OUT_NONE:
            return
        # Chunked output comes from the parser, whose chunks are bytes (bytes() keeps them).
        self.client.write(chunk(bytes(data)) if out == OUT_CHUNKED else data)
        self.bytes_out += len(data)
        client = self.client
        ctx = self.ctx
        client.deadline = ctx.loop.time() + (
            ctx.stream_idle_timeout if client.streaming else ctx.read_timeout
        )

    def response_complete(self, conn: UpstreamConnection) -> None:
        """The upstream's response message ended."""
        if self.interim:
            self.interim = False
            return
        if self.resp_done or self.status == 101:
            return
        self.response_done(conn, conn.parser.should_keep_alive())

    def response_done(self, conn: UpstreamConnection, reusable: bool) -> None:
        """Finish the response; pool the upstream connection when it is clean."""
        if self.out == OUT_CHUNKED:
            self.client.write(LAST_CHUNK)
        self.resp_done = True
        self.up = None
        ctx = self.ctx
        if reusable and self.req_done and self.upstream is not None:
            self.upstream.release(conn, ctx.loop.time(), ctx.max_idle)
        else:
            conn.close()
        if not self.req_done:
            self.keep_alive = False  # answered early: the rest of the body is not read
        self.finish()

    def response_upgraded(self, conn: UpstreamConnection, rest: bytes) -> None:
        """The upstream switched protocols: join the two connections into a tunnel."""
        client = self.client
        if self.status != 101 or client.closed:
            conn.abort()
            return
        self.up = None
        Tunnel(client, conn)
        if rest:
            client.write(rest)
        if self.tunnel_pending:
            conn.write(self.tunnel_pending)
            self.tunnel_pending = b""
        client.resume(client.PAUSE_UPGRADE)
        self.req_done = self.resp_done = True
        self.finish()

    def upstream_broken(self, conn: UpstreamConnection, kind: str) -> None:
        """The upstream sent something unforwardable."""
        conn.abort()
        if self.up is conn:
            self.up = None
        if self.resp_started:
            self.ctx.metrics.upstream_error(kind)
            self.abort("upstream " + kind)
        else:
            self.failed(kind)

    def upstream_lost(self, conn: UpstreamConnection) -> None:
        """The upstream connection closed while this exchange used it."""
        if self.up is conn:
            self.up = None
        if self.resp_done or self.finished:
            return
        if self.resp_started:
            if self.until_close:
                self.response_done(conn, False)
            else:
                self.ctx.metrics.upstream_error("reset")
                self.abort("upstream closed mid-response")
        else:
            self.failed("reset")

    # -- ending -------------------------------------------------------------------------

    def timed_out(self) -> None:
        """The connection's deadline passed while this exchange was active."""
        if not self.head_done:
            self.local(408, None, close=True)
        elif self.resp_started:
            self.abort("idle timeout while streaming")
        elif not self.req_done and self.up is not None and self.body_sent:
            self.local(408, None, close=True)  # the client stopped sending its body
        else:
            conn = self.up
            self.up = None
            if conn is not None:
                conn.abort()
            ctx = self.ctx
            ctx.metrics.upstream_error("read_timeout")
            self.error = "read_timeout"
            if self.upstream is not None:
                ctx.balancer.failed(self.upstream, ctx.loop.time())
            self.local(504, None, close=True)

    def local(
        self, status: int, message: str | None, rid: bytes | None = None, *, close: bool = False
    ) -> None:
        """Answer the request ourselves (errors, unknown hosts)."""
        if self.resp_started:
            self.abort(f"error {status} after the response started")
            return
        conn = self.up
        if conn is not None:
            self.up = None
            conn.abort()
        prep = self.prepared
        if rid is None:
            rid = prep.request_id if prep is not None else self.ctx.new_request_id()
        no_body = prep is not None and prep.body == BODY_NONE
        keep = (
            self.keep_alive
            and not close
            and (self.req_done or no_body)
            and not self.upgrade
            and not self.ctx.draining
        )
        self.keep_alive = keep
        self.status = status
        self.resp_started = True
        page = error_page(
            status, message, request_id=rid, keep_alive=keep, head_only=self.method == b"HEAD"
        )
        self.client.write(page)
        self.bytes_out += len(page)
        self.resp_done = True
        if not keep or self.req_done:
            self.finish()

    def abort(self, reason: str) -> None:
        """Give up on a response already under way: drop the client connection."""
        self.error = reason
        conn = self.up
        if conn is not None:
            self.up = None
            conn.abort()
        self.keep_alive = False
        self.finish()
        self.client.abort()

    def client_lost(self) -> None:
        """The client went away mid-exchange."""
        conn = self.up
        if conn is not None:
            self.up = None
            conn.abort()
        if not self.resp_done:
            self.status = self.status or 499
            self.error = self.error or "client closed the connection"
        self.keep_alive = False
        self.finish()

    def finish(self) -> None:
        """Both sides are done (or abandoned): record the request and free the connection."""
        if self.finished:
            return
        self.finished = True
        if self.relay is not None:
            self.relay.close()
            self.relay = None
        ctx = self.ctx
        client = self.client
        duration = ctx.loop.time() - self.t0 if self.t0 else 0.0
        status = self.status or 499
        ctx.metrics.observe(status, duration, self.bytes_in, self.bytes_out)
        if ctx.access_log.enabled:
            ctx.access_log.log_exchange(self, status, duration)
        client.exchange_finished(self)
