"""Raw HTTP/1.1 over asyncio sockets, for tests that need exact bytes on the wire."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import httptools


@dataclass
class Response:
    """A parsed HTTP response."""

    status: int
    headers: dict[str, str]
    body: bytes
    raw_headers: list[tuple[str, str]] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        """A header's value (case-insensitive)."""
        return self.headers.get(name.lower())


class _Collector:
    def __init__(self) -> None:
        self.responses: list[Response] = []
        self.headers: list[tuple[str, str]] = []
        self.body = bytearray()
        self.parser = httptools.HttpResponseParser(self)
        self.done = asyncio.Event()

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        status = self.parser.get_status_code()
        headers = {k.lower(): v for k, v in self.headers}
        self.responses.append(Response(status, headers, bytes(self.body), self.headers))
        self.headers = []
        self.body = bytearray()
        self.done.set()


async def exchange(
    port: int, data: bytes, *, responses: int = 1, timeout: float = 10.0
) -> tuple[list[Response], bool]:
    """Send ``data``; read until ``responses`` responses arrived or the server closed.

    Returns the responses and whether the server closed the connection.
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    collector = _Collector()
    closed = False
    deadline = time.monotonic() + timeout
    try:
        writer.write(data)
        await writer.drain()
        while len(collector.responses) < responses:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"got {len(collector.responses)} of {responses} responses")
            chunk = await asyncio.wait_for(reader.read(65536), remaining)
            if not chunk:
                closed = True
                break
            collector.parser.feed_data(chunk)
        if not closed:
            try:
                chunk = await asyncio.wait_for(reader.read(65536), 0.05)
                closed = chunk == b""
            except TimeoutError:
                closed = False
    finally:
        writer.close()
    return collector.responses, closed


class Connection:
    """One persistent client connection: requests go out, responses are read in order."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self._collector = _Collector()

    @classmethod
    async def open(cls, port: int) -> Connection:
        """Connect to the proxy on loopback."""
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send(
        self, data: bytes, *, responses: int = 1, timeout: float = 10.0
    ) -> list[Response]:
        """Write ``data`` and return the next ``responses`` responses (fails if it closes)."""
        collector = self._collector
        want = len(collector.responses) + responses
        self.writer.write(data)
        await self.writer.drain()
        deadline = time.monotonic() + timeout
        while len(collector.responses) < want:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(
                    f"got {len(collector.responses) - want + responses} of {responses}"
                )
            chunk = await asyncio.wait_for(self.reader.read(65536), remaining)
            if not chunk:
                raise ConnectionError("the proxy closed the connection")
            collector.parser.feed_data(chunk)
        return collector.responses[want - responses : want]

    def close(self) -> None:
        """Close the connection."""
        self.writer.close()


def request(method: str, host: str, target: str, body: bytes = b"") -> bytes:
    """A request's bytes with a Content-Length body."""
    return (
        f"{method} {target} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def get(host: str, target: str = "/", extra: str = "") -> bytes:
    """A GET request's bytes."""
    return f"GET {target} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode()
