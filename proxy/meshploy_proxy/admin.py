"""The admin port: ``/healthz``, ``/readyz`` and ``/metrics`` (served by the supervisor).

``/healthz`` answers 200 while the supervisor runs and at least one worker is alive.
``/readyz`` answers 200 once every worker has loaded its route table, and 503 while starting
or draining; both return a JSON body listing the workers. ``/metrics`` is the Prometheus text
format, summed over workers (see :mod:`meshploy_proxy.metrics`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import TYPE_CHECKING, Any

from meshploy_proxy.metrics import render

if TYPE_CHECKING:
    from meshploy_proxy.supervisor import Supervisor

log = logging.getLogger(__name__)

_MAX_HEAD = 8192


class AdminServer:
    """A deliberately small HTTP/1.1 server for probes and scrapes (one request per connection)."""

    def __init__(self, supervisor: Supervisor, host: str, port: int) -> None:
        self.supervisor = supervisor
        self.host = host
        self.port = port
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        """Listen on the admin port."""
        self._server = await asyncio.start_server(
            self._handle, self.host, self.port, reuse_address=True, limit=_MAX_HEAD
        )

    async def close(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
            parts = request_line.split(" ")
            if len(parts) != 3:
                status, ctype, body = 400, "text/plain", b"bad request\n"
            else:
                method, target = parts[0], parts[1].split("?", 1)[0]
                status, ctype, body = await self.respond(method, target)
            reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}
            writer.write(
                f"HTTP/1.1 {status} {reason.get(status, 'Service Unavailable')}\r\n"
                f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                "Cache-Control: no-store\r\nConnection: close\r\n\r\n".encode()
                + (b"" if parts[0] == "HEAD" else body)
            )
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except ConnectionError:
            pass
        except Exception:
            log.exception("admin request failed")
        finally:
            writer.close()

    async def respond(self, method: str, path: str) -> tuple[int, str, bytes]:
        """Status, content type and body for ``method path``."""
        if method not in ("GET", "HEAD"):
            return 405, "text/plain", b"method not allowed\n"
        sup = self.supervisor
        if path == "/healthz":
            alive = any(h.alive for h in sup.handles)
            data: dict[str, Any] = {"status": "ok" if alive else "no live worker", **sup.status()}
            return (200 if alive else 503), "application/json", _json(data)
        if path == "/readyz":
            data = sup.status()
            return (200 if data["ready"] else 503), "application/json", _json(data)
        if path == "/metrics":
            snapshots = await sup.stats()
            extra = {
                "workers_alive": float(sum(1 for h in sup.handles if h.alive)),
                "worker_restarts": float(sup.restarts_total),
            }
            return 200, "text/plain; version=0.0.4; charset=utf-8", render(snapshots, extra)
        return 404, "text/plain", b"not found\n"


def _json(data: dict[str, Any]) -> bytes:
    return json.dumps(data).encode() + b"\n"
