"""Streaming through the proxy: SSE, WebSockets, chunked bodies, 100-continue, HEAD."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from meshploy_core.testing.poll import eventually
from tests.fixtures.proxy import ProxyProcess, Routes, routed_upstream, unique_host
from tests.proxy import upstream_app
from tests.proxy.client import exchange

pytestmark = pytest.mark.integration


@pytest.fixture
async def upstream(
    proxy: ProxyProcess, routes: Routes
) -> AsyncIterator[tuple[str, upstream_app.UpstreamState]]:
    """An upstream with a routed hostname, ready to serve."""
    server, state, host = await routed_upstream(proxy, routes, "S", "stream")
    yield host, state
    server.close()


async def test_server_sent_events_arrive_one_by_one(
    proxy: ProxyProcess, upstream: tuple[str, upstream_app.UpstreamState]
) -> None:
    host, state = upstream
    async with (
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{proxy.port}", timeout=10) as client,
        client.stream("GET", "/sse?n=3", headers={"Host": host}) as resp,
    ):
        assert resp.status_code == 200
        assert resp.headers["content-type"] == "text/event-stream"
        lines = resp.aiter_lines()
        for i in range(3):
            # The upstream sends event i only now; the proxy must pass it on before event
            # i+1 exists, or this read would hang.
            state.sse_tokens.put_nowait(None)
            got = [await asyncio.wait_for(anext(lines), 5) for _ in range(3)]
            assert got == [f"id: {i}", f"data: event {i}", ""]


async def test_websocket_echo_through_the_proxy(proxy: ProxyProcess, routes: Routes) -> None:
    async def echo(ws: ServerConnection) -> None:
        async for message in ws:
            await ws.send(message)

    async with serve(echo, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        host = unique_host("ws")
        await routes.add(host, [("127.0.0.1", port)])

        async def handshake() -> bool:
            async with connect(f"ws://{host}/chat", host="127.0.0.1", port=proxy.port) as ws:
                await ws.send("ping")
                return await asyncio.wait_for(ws.recv(), 5) == "ping"

        await eventually(handshake, what="websocket route")
        async with connect(f"ws://{host}/chat", host="127.0.0.1", port=proxy.port) as ws:
            for i in range(50):
                await ws.send(f"message {i}")
                assert await asyncio.wait_for(ws.recv(), 5) == f"message {i}"
            big = bytes(range(256)) * 4096  # 1 MiB binary frame
            await ws.send(big)
            assert await asyncio.wait_for(ws.recv(), 10) == big


async def test_upgrade_refused_by_upstream_is_forwarded_and_closed(
    proxy: ProxyProcess, upstream: tuple[str, upstream_app.UpstreamState]
) -> None:
    host, _ = upstream
    wire = (
        f"GET /name HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
    ).encode()
    responses, closed = await exchange(proxy.port, wire)
    assert responses[0].status == 200 and responses[0].body == b"S"
    assert closed


async def test_chunked_upload_large_download_head_and_expect(
    proxy: ProxyProcess, upstream: tuple[str, upstream_app.UpstreamState]
) -> None:
    host, _ = upstream

    async def body() -> AsyncIterator[bytes]:
        for _ in range(64):
            yield b"z" * 100_000

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{proxy.port}", timeout=30) as c:
        resp = await c.post("/count", content=body(), headers={"Host": host})
        assert resp.text == "6400000"
        size = 0
        async with c.stream("GET", "/bytes?n=20000000", headers={"Host": host}) as streamed:
            assert streamed.headers["transfer-encoding"] == "chunked"
            async for piece in streamed.aiter_raw():
                size += len(piece)
        assert size == 20_000_000
        head = await c.head("/name", headers={"Host": host})
        assert head.status_code == 200 and head.headers["content-length"] == "1"
        again = await c.get("/name", headers={"Host": host})  # the pooled conn still works
        assert again.text == "S"
    wire = (
        f"POST /count HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
    ).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(wire)
    interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(b"hello")
    final = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert final.startswith(b"HTTP/1.1 200")
    assert await reader.readexactly(1) == b"5"
    writer.close()
