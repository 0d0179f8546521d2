"""Byte tunnels for WebSocket and other Upgrade requests, once the upstream said 101.

After the handshake the proxy no longer parses anything: bytes are copied both ways as they
arrive, with back-pressure (a slow reader pauses the other side's reads) and one idle timeout.
Either side closing closes the other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from meshploy_proxy.server import ClientConnection
    from meshploy_proxy.upstream import UpstreamConnection


class Tunnel:
    """Joins a client connection and an upstream connection after a 101 response."""

    __slots__ = ("client", "closed", "idle", "loop", "upstream")

    def __init__(self, client: ClientConnection, upstream: UpstreamConnection) -> None:
        self.client = client
        self.upstream = upstream
        self.loop = client.ctx.loop
        self.idle = client.ctx.stream_idle_timeout
        self.closed = False
        upstream.tunnel = self
        upstream.exchange = None
        client.tunnel = self
        client.deadline = self.loop.time() + self.idle

    def from_client(self, data: bytes) -> None:
        """Client bytes: to the upstream."""
        self.upstream.write(data)
        self.client.deadline = self.loop.time() + self.idle

    def from_upstream(self, data: bytes) -> None:
        """Upstream bytes: to the client."""
        self.client.write(data)
        self.client.deadline = self.loop.time() + self.idle

    def upstream_write_paused(self, paused: bool) -> None:
        """The upstream is not keeping up: stop (or resume) reading from the client."""
        if paused:
            self.client.pause(self.client.PAUSE_UPSTREAM)
        else:
            self.client.resume(self.client.PAUSE_UPSTREAM)

    def client_write_paused(self, paused: bool) -> None:
        """The client is not keeping up: stop (or resume) reading from the upstream."""
        if paused:
            self.upstream.pause_reading()
        else:
            self.upstream.resume_reading()

    def close(self) -> None:
        """Close both sides (each flushes what it has buffered first)."""
        if self.closed:
            return
        self.closed = True
        self.upstream.tunnel = None
        self.upstream.close()
        self.client.close()
