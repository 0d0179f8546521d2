"""Structured access logs: one JSON object per request on stdout, written in batches.

Formatting a line is the only per-request cost; lines are joined and written with one
``os.write`` per batch (at most every flush interval or every 64 KiB). Batches are cut at line
boundaries into writes of at most ``PIPE_BUF`` bytes, so lines from several worker processes
sharing one stdout pipe never interleave mid-line.
"""

from __future__ import annotations

import contextlib
import os
import time
from json.encoder import encode_basestring_ascii as _q
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from meshploy_proxy.exchange import Exchange

PIPE_BUF = 4096
_FLUSH_BYTES = 64 * 1024
_QUOTED_MAX = 4096


class AccessLog:
    """Buffers access-log lines and writes them to a file descriptor."""

    __slots__ = ("_buf", "_quoted", "_size", "enabled", "fd", "worker")

    def __init__(self, fd: int = 1, *, enabled: bool = True, worker: int = 0) -> None:
        self.fd = fd
        self.enabled = enabled
        self.worker = worker
        self._buf: list[str] = []
        self._size = 0
        #: JSON-quoted client addresses, methods (bytes keys) and upstream labels.
        self._quoted: dict[str | bytes, str] = {}

    def log(
        self,
        *,
        request_id: str,
        client: str,
        method: str,
        host: str,
        target: str,
        status: int,
        duration: float,
        bytes_in: int,
        bytes_out: int,
        upstream: str | None,
        attempts: int,
        error: str | None = None,
    ) -> None:
        """Record one finished request."""
        if not self.enabled:
            return
        self._line(
            _q(request_id),
            _q(client),
            _q(method),
            _q(host),
            _q(target),
            status,
            duration,
            bytes_in,
            bytes_out,
            _q(upstream) if upstream is not None else "null",
            attempts,
            error,
        )

    def log_exchange(self, ex: Exchange, status: int, duration: float) -> None:
        """Record a finished :class:`~meshploy_proxy.exchange.Exchange`."""
        prep = ex.prepared
        up = ex.upstream
        quoted = self._quoted
        if len(quoted) > _QUOTED_MAX:
            quoted.clear()
        # Client addresses, methods and upstream labels repeat: quoted once, then looked up.
        client = quoted.get(ex.client.client_ip)
        if client is None:
            client = quoted[ex.client.client_ip] = _q(ex.client.client_ip)
        method = quoted.get(ex.method)
        if method is None:
            method = quoted[ex.method] = _q(ex.method.decode("latin-1"))
        upstream = "null"
        if up is not None:
            label = quoted.get(up.label)
            if label is None:
                label = quoted[up.label] = _q(up.label)
            upstream = label
        self._line(
            _q((prep.request_id if prep is not None else b"-").decode("latin-1")),
            client,
            method,
            _q((prep.host if prep is not None else b"").decode("latin-1")),
            _q(ex.target.decode("latin-1")[:2048]),
            status,
            duration,
            ex.bytes_in,
            ex.bytes_out,
            upstream,
            ex.attempts,
            ex.error,
        )

    def _line(
        self,
        request_id: str,
        client: str,
        method: str,
        host: str,
        target: str,
        status: int,
        duration: float,
        bytes_in: int,
        bytes_out: int,
        upstream: str,
        attempts: int,
        error: str | None,
    ) -> None:
        """Buffer one line; the strings are JSON-quoted already."""
        # Formatted by hand (json.dumps of a dict costs ~3x more); strings are escaped with
        # the json module's C encoder, so the line is valid JSON whatever a client sent.
        line = (
            f'{{"ts":{time.time():.3f},"type":"access","request_id":{request_id},'
            f'"client":{client},"method":{method},"host":{host},'
            f'"target":{target},"status":{status},"duration_ms":{duration * 1000:.3f},'
            f'"bytes_in":{bytes_in},"bytes_out":{bytes_out},"upstream":{upstream},'
            f'"attempts":{attempts},"worker":{self.worker}'
            + (f',"error":{_q(error)}}}\n' if error else "}\n")
        )
        self._buf.append(line)
        self._size += len(line)
        if self._size >= _FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        """Write buffered lines (called on a timer and at shutdown)."""
        if not self._buf:
            return
        lines, self._buf, self._size = self._buf, [], 0
        chunk: list[str] = []
        size = 0
        for line in lines:
            if chunk and size + len(line) > PIPE_BUF:
                self._write("".join(chunk))
                chunk, size = [], 0
            chunk.append(line)
            size += len(line)
        if chunk:
            self._write("".join(chunk))

    def _write(self, text: str) -> None:
        data = text.encode("utf-8", "replace")
        with contextlib.suppress(OSError):  # a closed stdout must not take the proxy down
            while data:
                written = os.write(self.fd, data)
                data = data[written:]
