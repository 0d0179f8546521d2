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


class AccessLog:
    """Buffers access-log lines and writes them to a file descriptor."""

    __slots__ = ("_buf", "_size", "enabled", "fd", "worker")

    def __init__(self, fd: int = 1, *, enabled: bool = True, worker: int = 0) -> None:
        self.fd = fd
        self.enabled = enabled
        self.worker = worker
        self._buf: list[str] = []
        self._size = 0

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
        # Formatted by hand (json.dumps of a dict costs ~3x more); strings are escaped with
        # the json module's C encoder, so the line is valid JSON whatever a client sent.
        line = (
            f'{{"ts":{time.time():.3f},"type":"access","request_id":{_q(request_id)},'
            f'"client":{_q(client)},"method":{_q(method)},"host":{_q(host)},'
            f'"target":{_q(target)},"status":{status},"duration_ms":{duration * 1000:.3f},'
            f'"bytes_in":{bytes_in},"bytes_out":{bytes_out},'
            f'"upstream":{_q(upstream) if upstream is not None else "null"},'
            f'"attempts":{attempts},"worker":{self.worker}'
            + (f',"error":{_q(error)}}}\n' if error else "}\n")
        )
        self._buf.append(line)
        self._size += len(line)
        if self._size >= _FLUSH_BYTES:
            self.flush()

    def log_exchange(self, ex: Exchange, status: int, duration: float) -> None:
        """Record a finished :class:`~meshploy_proxy.exchange.Exchange`."""
        prep = ex.prepared
        self.log(
            request_id=(prep.request_id if prep is not None else b"-").decode("latin-1"),
            client=ex.client.client_ip,
            method=ex.method.decode("latin-1"),
            host=(prep.host if prep is not None else b"").decode("latin-1"),
            target=ex.target.decode("latin-1")[:2048],
            status=status,
            duration=duration,
            bytes_in=ex.bytes_in,
            bytes_out=ex.bytes_out,
            upstream=ex.upstream.label if ex.upstream is not None else None,
            attempts=ex.attempts,
            error=ex.error,
        )

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
