"""A small real HTTP/1.1 upstream for proxy tests (asyncio + httptools, no framework).

Runs in the test's event loop (:func:`start`) or as its own process
(``python -m tests.proxy.upstream_app --port N --name A``) when a test needs to kill it.

Endpoints (any method unless noted):
  /name              -> the server's name (which upstream answered); ``?fin=1`` closes the
                        connection right after answering (no ``Connection: close``), the FIN
                        in the same segment as the response (an idle timeout firing then)
  /arm-close         -> answers, then reads the *next* request on this connection and closes
                        without answering it (the upstream closing as a request arrives)
  /headers           -> the request head as JSON (method, target, headers list)
  /count             -> reads the body without keeping it; answers the byte count
  /bytes?n=N         -> N bytes of response body, chunked, streamed in 64 KiB pieces;
                        ``&smuggle=1`` sends a second response head (no length, so its body
                        would run to the close) right after, in the same write
  /blob?n=N          -> N pseudo-random bytes (:func:`blob`) with a Content-Length;
                        ``&cut=K`` sends only the first K and then closes the connection;
                        ``&extra=K`` sends K junk bytes after the body (a broken server);
                        ``&late=MS`` sends them only MS ms after the body was flushed
  /head?n=N&size=S   -> a response with N extra header fields of S bytes each
  /endless-head      -> a status line, then one header line that never ends (1 MiB)
  /sse               -> text/event-stream; each event is sent after /sse-next is hit
  /sse-next          -> releases the next SSE event
  /hang              -> never answers
  /close             -> closes the connection without answering
  /status?code=N     -> answers with that status
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import random
import socket
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import httptools


@dataclass
class UpstreamState:
    """Shared by an upstream server's connections."""

    name: str
    sse_tokens: asyncio.Queue[None] = field(default_factory=asyncio.Queue)
    requests: int = 0
    port: int = 0
    #: Connections accepted so far, and how many of them have closed.
    connections: int = 0
    closed: int = 0
    #: (method, target) of every request received, answered or not, in arrival order.
    seen: list[tuple[str, str]] = field(default_factory=list)
    #: The requests an armed connection (``/arm-close``) received and dropped unanswered.
    dropped: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class _Request:
    method: str
    target: str
    headers: list[tuple[bytes, bytes]]
    body_bytes: int


@functools.lru_cache(maxsize=8)
def blob(n: int) -> bytes:
    """``n`` reproducible pseudo-random bytes (the body of ``/blob?n=N``)."""
    return random.Random(n).randbytes(n)


class _Conn(asyncio.Protocol):
    def __init__(self, state: UpstreamState) -> None:
        self.state = state
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.count = 0
        #: The latest response task; each waits for the one before (answers stay in order).
        self.task: asyncio.Task[None] | None = None
        self.armed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.state.connections += 1

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            pass  # an Upgrade this server refuses: it answers the request normally
        except httptools.HttpParserError:
            assert self.transport is not None
            self.transport.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.state.closed += 1
        if self.task is not None:
            self.task.cancel()

    def on_message_begin(self) -> None:
        self.url = b""
        self.headers = []
        self.count = 0

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_body(self, body: bytes) -> None:
        self.count += len(body)

    def on_message_complete(self) -> None:
        request = _Request(
            self.parser.get_method().decode(), self.url.decode(), self.headers, self.count
        )
        self.state.seen.append((request.method, request.target))
        if self.armed:
            self.state.dropped.append((request.method, request.target))
            assert self.transport is not None
            self.transport.close()
            return
        self.state.requests += 1
        previous = self.task
        self.task = asyncio.get_running_loop().create_task(self.respond(request, previous))

    def _send(self, status: int, body: bytes, ctype: bytes = b"text/plain") -> None:
        assert self.transport is not None
        self.transport.write(
            b"HTTP/1.1 %d X\r\nContent-Type: %b\r\nContent-Length: %d\r\nX-Upstream: %b\r\n\r\n%b"
            % (status, ctype, len(body), self.state.name.encode(), body)
        )

    async def _flushed(self, within: float = 10.0) -> None:
        """Wait until the transport has handed everything to the kernel."""
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while self.transport.get_write_buffer_size() and loop.time() < deadline:
            await asyncio.sleep(0.001)

    def _answer_then_fin(self, body: bytes) -> None:
        """Answer, then close at once: response and FIN leave in one segment (TCP_CORK)."""
        assert self.transport is not None
        sock = self.transport.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
        self._send(200, body)
        sock.shutdown(socket.SHUT_WR)  # FIN joins the corked response
        self.transport.close()

    async def respond(self, request: _Request, previous: asyncio.Task[None] | None) -> None:
        if previous is not None and not previous.done():
            await asyncio.wait([previous])
        assert self.transport is not None
        if self.transport.is_closing():
            return
        parts = urlsplit(request.target)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        path = parts.path
        method = request.method
        if path == "/name":
            if query.get("fin"):
                self._answer_then_fin(self.state.name.encode())
            else:
                self._send(200, self.state.name.encode())
        elif path == "/arm-close":
            self.armed = True
            self._send(200, b"armed")
        elif path == "/headers":
            info = {
                "method": method,
                "target": request.target,
                "headers": [[n.decode(), v.decode()] for n, v in request.headers],
            }
            self._send(200, json.dumps(info).encode(), b"application/json")
        elif path == "/count":
            self._send(200, str(request.body_bytes).encode())
        elif path == "/bytes":
            n = int(query.get("n", "0"))
            self.transport.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            piece = b"x" * 65536
            while n > 0:
                part = piece[: min(n, len(piece))]
                self.transport.write(b"%x\r\n%b\r\n" % (len(part), part))
                n -= len(part)
            smuggled = b"HTTP/1.1 200 OK\r\nX-Smuggled: 1\r\n\r\n" if query.get("smuggle") else b""
            self.transport.write(b"0\r\n\r\n" + smuggled)
        elif path == "/blob":
            n = int(query.get("n", "0"))
            body = blob(n)
            cut = int(query.get("cut", str(n)))
            self.transport.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                b"Content-Length: %d\r\n\r\n" % n
            )
            self.transport.write(body[:cut])
            junk = b"!" * int(query.get("extra", "0"))
            if "late" in query:
                await self._flushed()
                await asyncio.sleep(int(query["late"]) / 1000)
            self.transport.write(junk)
            if cut < n:
                self.transport.close()  # after the buffered bytes: a short body, then FIN
        elif path == "/head":
            n, size = int(query.get("n", "1")), int(query.get("size", "10"))
            fields = b"".join(b"X-F%d: %b\r\n" % (i, b"v" * size) for i in range(n))
            self.transport.write(b"HTTP/1.1 200 OK\r\n%bContent-Length: 2\r\n\r\nok" % fields)
        elif path == "/endless-head":
            self.transport.write(b"HTTP/1.1 200 OK\r\nX-Endless: ")
            piece = b"y" * 65536
            for _ in range(16):
                self.transport.write(piece)
                await asyncio.sleep(0)  # let the proxy read (and give up) as it goes
        elif path == "/sse":
            self.transport.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                b"Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n"
            )
            for i in range(int(query.get("n", "3"))):
                await self.state.sse_tokens.get()
                event = b"id: %d\ndata: event %d\n\n" % (i, i)
                self.transport.write(b"%x\r\n%b\r\n" % (len(event), event))
            self.transport.write(b"0\r\n\r\n")
        elif path == "/sse-next":
            self.state.sse_tokens.put_nowait(None)
            self._send(200, b"ok")
        elif path == "/hang":
            await asyncio.Event().wait()
        elif path == "/close":
            self.transport.close()
        elif path == "/status":
            self._send(int(query.get("code", "200")), b"status")
        else:
            self._send(404, b"no such path")


async def start(
    name: str, host: str = "127.0.0.1", port: int = 0
) -> tuple[asyncio.Server, UpstreamState, int]:
    """Start an upstream in the running loop; returns the server, its state and its port."""
    state = UpstreamState(name)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Conn(state), host, port, reuse_address=True)
    state.port = server.sockets[0].getsockname()[1]
    return server, state, state.port


def main() -> None:
    """Run as a process: ``--port`` and ``--name``; prints ``ready`` when listening."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--name", required=True)
    args = parser.parse_args()

    async def serve() -> None:
        server, _, port = await start(args.name, port=args.port)
        print(f"ready {port} {os.getpid()}", flush=True)
        await server.serve_forever()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
