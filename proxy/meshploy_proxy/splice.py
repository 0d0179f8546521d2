"""Zero-copy relay of large response bodies: ``splice(2)`` from the upstream socket to the client.

A body with a known ``Content-Length`` of at least :data:`SPLICE_MIN` bytes does not pass
through Python at all once its head is forwarded: the kernel moves it from the upstream socket
into a pipe and from the pipe into the client socket, handing page references along instead of
copying bytes into user space and back. On loopback and over WireGuard the proxy's CPU for a
1 MiB response drops to a few system calls; see docs/proxy.md for the measurements.

How it fits the event loop: the upstream transport's reads are paused for the duration, and
readiness of the two sockets is watched through *duplicates* of their file descriptors (uvloop
refuses watchers on a descriptor a transport owns; a duplicate shares the socket but is a
different epoll key). The relay alternates: fill the pipe from the upstream (never while the
pipe holds bytes, so "would block" always means the socket has nothing, not that the pipe is
full), then drain it to the client. When it ends, the duplicates are closed before anything
else may close the sockets, so a duplicate never keeps a socket open behind anyone's back.

Anything unusual falls back to the ordinary path: no ``os.splice`` (not Linux), bytes still
buffered in the client transport, a pipe that cannot be made.
"""

from __future__ import annotations

import array
import contextlib
import errno
import fcntl
import logging
import os
import termios
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio

    from meshploy_proxy.exchange import Exchange
    from meshploy_proxy.server import ClientConnection
    from meshploy_proxy.upstream import UpstreamConnection

#: Bodies at least this large are spliced; smaller ones are cheaper through the transports.
SPLICE_MIN = 64 * 1024
#: Bytes a pipe holds (the kernel may round up to a power-of-two number of pages).
PIPE_SIZE = 1024 * 1024
#: Pipes kept for reuse per worker.
POOL_MAX = 64

AVAILABLE = hasattr(os, "splice")
log = logging.getLogger(__name__)
_FLAGS = getattr(os, "SPLICE_F_MOVE", 1) | getattr(os, "SPLICE_F_NONBLOCK", 2)
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
_F_GETPIPE_SZ = getattr(fcntl, "F_GETPIPE_SZ", 1032)
#: Errors that mean the peer went away (as opposed to a bug in how we call splice).
_GONE = frozenset(
    (errno.EPIPE, errno.ECONNRESET, errno.ECONNABORTED, errno.ETIMEDOUT, errno.EHOSTUNREACH)
)


def _unread(fd: int) -> int:
    """Bytes waiting in a socket's receive queue (-1 when the kernel will not say)."""
    buf = array.array("i", [0])
    try:
        fcntl.ioctl(fd, termios.FIONREAD, buf, True)
    except OSError:
        return -1
    return buf[0]


class PipePool:
    """Non-blocking pipes for splicing, reused across responses (one pool per worker)."""

    def __init__(self, size: int = PIPE_SIZE, keep: int = POOL_MAX) -> None:
        self._size = size
        self._keep = keep
        self._free: list[tuple[int, int]] = []
        #: The pipe capacity actually granted (set by the first pipe made).
        self.capacity = 0

    def acquire(self) -> tuple[int, int] | None:
        """A ``(read_fd, write_fd)`` pair holding no data, or None when none can be made."""
        if self._free:
            return self._free.pop()
        try:
            r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            granted = fcntl.fcntl(w, _F_SETPIPE_SZ, self._size)
        except OSError:  # above /proc/sys/fs/pipe-max-size for this user: keep the default
            granted = fcntl.fcntl(w, _F_GETPIPE_SZ)
        self.capacity = granted
        return r, w

    def release(self, pipe: tuple[int, int], *, empty: bool) -> None:
        """Return a pipe; one still holding bytes (an aborted relay) is closed instead."""
        if empty and len(self._free) < self._keep:
            self._free.append(pipe)
            return
        for fd in pipe:
            os.close(fd)

    def close(self) -> None:
        """Close every pooled pipe (worker shutdown)."""
        for pipe in self._free:
            for fd in pipe:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._free.clear()


class SpliceRelay:
    """Moves the rest of one Content-Length body from an upstream socket to the client."""

    __slots__ = (
        "client",
        "client_fd",
        "conn",
        "exchange",
        "in_pipe",
        "left",
        "loop",
        "pipe",
        "pool",
        "reading",
        "up_fd",
        "writing",
    )

    def __init__(
        self,
        exchange: Exchange,
        conn: UpstreamConnection,
        client: ClientConnection,
        pipe: tuple[int, int],
        up_fd: int,
        client_fd: int,
        left: int,
    ) -> None:
        self.exchange = exchange
        self.conn = conn
        self.client = client
        self.loop: asyncio.AbstractEventLoop = client.ctx.loop
        self.pool = client.ctx.pipes
        self.pipe: tuple[int, int] | None = pipe
        self.up_fd = up_fd
        self.client_fd = client_fd
        self.left = left
        self.in_pipe = 0
        self.reading = self.writing = False

    @classmethod
    def start(cls, exchange: Exchange, conn: UpstreamConnection) -> SpliceRelay | None:
        """Prepare to relay ``conn.raw_left`` bytes (call :meth:`pump` next), or return None.

        None means "use the ordinary path": nothing has been changed then.
        """
        client = exchange.client
        up_t = conn.transport
        cl_t = client.transport
        if up_t is None or cl_t is None or client.closed or conn.closed:
            return None
        if cl_t.get_write_buffer_size() or cl_t.is_closing() or up_t.is_closing():
            return None  # bytes must reach the client in order: let the transport drain them
        up_sock = up_t.get_extra_info("socket")
        cl_sock = cl_t.get_extra_info("socket")
        if up_sock is None or cl_sock is None:
            return None
        pipe = client.ctx.pipes.acquire()
        if pipe is None:
            return None
        fds: list[int] = []
        try:
            fds.append(os.dup(up_sock.fileno()))
            fds.append(os.dup(cl_sock.fileno()))
        except OSError:
            for fd in fds:
                os.close(fd)
            client.ctx.pipes.release(pipe, empty=True)
            return None
        conn.pause_reading()
        conn.splicing = True
        return cls(exchange, conn, client, pipe, fds[0], fds[1], conn.raw_left)

    def pump(self) -> None:
        """Move as much as the sockets allow now; wait for readiness when they do not."""
        pipe = self.pipe
        if pipe is None:
            return
        r, w = pipe
        progressed = False
        moved = 0
        try:
            while True:
                if self.in_pipe == 0:
                    if self.left == 0:
                        break
                    try:
                        n = os.splice(self.up_fd, w, min(self.left, PIPE_SIZE), flags=_FLAGS)
                    except BlockingIOError:
                        self._wait_or_fail(read=True)
                        return
                    except OSError as exc:
                        self._upstream_failed(exc)
                        return
                    if n == 0:
                        self._upstream_failed(None)
                        return
                    self.left -= n
                    self.in_pipe = n
                    progressed = True
                try:
                    m = os.splice(r, self.client_fd, self.in_pipe, flags=_FLAGS)
                except BlockingIOError:
                    self._wait_or_fail(read=False)
                    return
                except OSError as exc:
                    self._client_failed(exc)
                    return
                self.in_pipe -= m
                moved += m
                progressed = True
        finally:
            if moved:
                self.exchange.bytes_out += moved
                self.client.ctx.metrics.spliced_bytes += moved
            if progressed and self.pipe is not None:
                self.client.deadline = self.loop.time() + self.client.ctx.read_timeout
        self._done()

    # -- readiness ------------------------------------------------------------------------

    def _wait_or_fail(self, *, read: bool) -> None:
        try:
            self._wait(read=read)
        except (RuntimeError, OSError) as exc:  # the loop refused the watcher: cannot go on
            log.warning("splice relay cannot watch a socket: %s", exc)
            ex = self._detach()
            if ex is not None:
                ex.abort("splice relay failed")

    def _wait(self, *, read: bool) -> None:
        """Watch the upstream for input (``read``) or the client for room, not both."""
        loop = self.loop
        if read:
            if self.writing:
                loop.remove_writer(self.client_fd)
                self.writing = False
            if not self.reading:
                loop.add_reader(self.up_fd, self.pump)
                self.reading = True
        else:
            if self.reading:
                loop.remove_reader(self.up_fd)
                self.reading = False
            if not self.writing:
                loop.add_writer(self.client_fd, self.pump)
                self.writing = True

    # -- ending ---------------------------------------------------------------------------

    def close(self) -> None:
        """Stop watching, close the duplicates and give the pipe back (idempotent)."""
        pipe = self.pipe
        if pipe is None:
            return
        self.pipe = None
        loop = self.loop
        if self.reading:
            loop.remove_reader(self.up_fd)
        if self.writing:
            loop.remove_writer(self.client_fd)
        self.reading = self.writing = False
        os.close(self.up_fd)
        os.close(self.client_fd)
        self.pool.release(pipe, empty=self.in_pipe == 0)
        self.conn.splicing = False

    def _detach(self) -> Exchange | None:
        """Close the relay and unhook it; the exchange, unless it has already finished."""
        self.close()
        ex = self.exchange
        ex.relay = None
        return None if ex.finished else ex

    def _done(self) -> None:
        """Every byte reached the client: hand the connection back to the exchange."""
        # Bytes after the body (a broken upstream) would be read as the next response's
        # start: such a connection is closed, not pooled.
        clean = _unread(self.up_fd) == 0
        ex = self._detach()
        conn = self.conn
        conn.raw_left = 0
        conn.reset_parser()
        conn.resume_reading()
        if ex is not None and ex.up is conn:
            ex.response_done(conn, clean and ex.upstream_reusable)

    def _upstream_failed(self, exc: OSError | None) -> None:
        """The upstream closed or failed before the whole body was read."""
        ex = self._detach()
        if ex is not None:
            ex.ctx.metrics.upstream_error("reset")
            ex.abort("upstream closed mid-response" if exc is None else f"upstream {exc.strerror}")

    def _client_failed(self, exc: OSError) -> None:
        """The client went away (or its socket failed) mid-body."""
        if exc.errno not in _GONE:
            log.warning("splice to a client failed: %s", exc)
        ex = self._detach()
        if ex is not None:
            ex.client_lost()
            self.client.abort()
