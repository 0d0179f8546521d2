"""Malformed and hostile requests are answered by the proxy and never reach an upstream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from meshploy_core.testing.poll import eventually
from tests.fixtures.proxy import ProxyProcess, Routes, unique_host
from tests.proxy import upstream_app
from tests.proxy.client import exchange, get

pytestmark = pytest.mark.integration

HOST = unique_host("target")


@pytest.fixture(scope="module")
async def target(proxy: ProxyProcess, proxy_db: str) -> AsyncIterator[upstream_app.UpstreamState]:
    """One upstream routed at HOST; its request counter proves what reached it."""
    import asyncpg

    server, state, port = await upstream_app.start("T")
    conn = await asyncpg.connect(proxy_db.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await Routes(conn).add(HOST, [("127.0.0.1", port)])
    finally:
        await conn.close()

    async def served() -> bool:
        responses, _ = await exchange(proxy.port, get(HOST, "/name"))
        return responses[0].status == 200

    await eventually(served, what="the target route")
    yield state
    server.close()


BIG = "x" * 40_000
CASES = [
    ("missing Host", b"GET /name HTTP/1.1\r\n\r\n", 400),
    ("two Hosts", f"GET /name HTTP/1.1\r\nHost: {HOST}\r\nHost: {HOST}\r\n\r\n".encode(), 400),
    ("Host with a path", f"GET / HTTP/1.1\r\nHost: {HOST}/x\r\n\r\n".encode(), 400),
    ("Host with a space", b"GET / HTTP/1.1\r\nHost: a b.test\r\n\r\n", 400),
    ("empty Host", b"GET / HTTP/1.1\r\nHost: \r\n\r\n", 400),
    ("oversized header", f"GET / HTTP/1.1\r\nHost: {HOST}\r\nX-Big: {BIG}\r\n\r\n".encode(), 431),
    (
        "too many headers",
        (f"GET / HTTP/1.1\r\nHost: {HOST}\r\n" + "X-A: 1\r\n" * 150 + "\r\n").encode(),
        431,
    ),
    ("oversized URL", f"GET /{BIG} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode(), 414),
    (
        "Content-Length and Transfer-Encoding",
        f"POST /count HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 5\r\n"
        "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /name HTTP/1.1\r\n\r\n".encode(),
        400,
    ),
    (
        "Transfer-Encoding and Content-Length",
        f"POST /count HTTP/1.1\r\nHost: {HOST}\r\nTransfer-Encoding: chunked\r\n"
        "Content-Length: 5\r\n\r\n0\r\n\r\n".encode(),
        400,
    ),
    (
        "two Content-Lengths",
        f"POST /count HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 1\r\n"
        "Content-Length: 2\r\n\r\nab".encode(),
        400,
    ),
    (
        "unknown transfer coding",
        f"POST /count HTTP/1.1\r\nHost: {HOST}\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
        "0\r\n\r\n".encode(),
        501,
    ),
    (
        "obsolete line folding",
        f"GET / HTTP/1.1\r\nHost: {HOST}\r\nX-A: a\r\n  folded\r\n\r\n".encode(),
        400,
    ),
    ("bare LF", f"GET / HTTP/1.1\nHost: {HOST}\n\n".encode(), 400),
    ("NUL in target", f"GET /a\x00b HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode(), 400),
    ("HTTP/2 on HTTP/1 framing", f"GET / HTTP/2.0\r\nHost: {HOST}\r\n\r\n".encode(), 505),
    ("CONNECT", f"CONNECT {HOST}:443 HTTP/1.1\r\nHost: {HOST}:443\r\n\r\n".encode(), 405),
    ("garbage", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n", 400),
    ("space before colon", f"GET / HTTP/1.1\r\nHost : {HOST}\r\n\r\n".encode(), 400),
    (
        "bad chunk size",
        f"POST /count HTTP/1.1\r\nHost: {HOST}\r\nTransfer-Encoding: chunked\r\n\r\n"
        "zz\r\n".encode(),
        400,
    ),
]


@pytest.mark.parametrize(("what", "wire", "status"), CASES, ids=[c[0] for c in CASES])
async def test_rejected_cleanly_and_never_forwarded(
    proxy: ProxyProcess,
    target: upstream_app.UpstreamState,
    what: str,
    wire: bytes,
    status: int,
) -> None:
    before = target.requests
    responses, closed = await exchange(proxy.port, wire)
    assert responses, f"{what}: no response (closed={closed})"
    got = responses[0]
    assert got.status == status, f"{what}: got {got.status}, want {status}"
    assert got.header("connection") == "close"
    assert closed, f"{what}: connection left open after a rejected request"
    # The proxy still works, and nothing of the hostile request reached the upstream.
    ok, _ = await exchange(proxy.port, get(HOST, "/name"))
    assert ok[0].status == 200
    assert target.requests == before + 1, f"{what}: reached the upstream"


async def test_slow_head_is_cut_off_when_too_big(
    proxy: ProxyProcess, target: upstream_app.UpstreamState
) -> None:
    # A head that never ends, sent in small pieces: bounded by the head limit, not memory.
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(f"GET / HTTP/1.1\r\nHost: {HOST}\r\nX-Long: ".encode())
    answer = asyncio.create_task(reader.read(64))
    sent = 0
    for _ in range(400):  # up to 400 KiB, far past the 32 KiB limit
        try:
            writer.write(b"a" * 1024)
            await writer.drain()
        except ConnectionError:
            break
        sent += 1024
        # Trickle: give the proxy a moment to answer after each KiB (a slowloris's pace).
        done, _ = await asyncio.wait({answer}, timeout=0.01)
        if done:
            break
    status = await asyncio.wait_for(answer, 5)
    writer.close()
    assert status.startswith(b"HTTP/1.1 431"), status
    assert sent < 400 * 1024, "the proxy kept reading an endless head"


HEADS = [
    ("40 KiB of fields", "/head?n=40&size=1000", 200),
    ("too many fields", "/head?n=300&size=5", 502),
    ("a 100 KiB head", "/head?n=100&size=1000", 502),
    ("a header line that never ends", "/endless-head", 502),
]


@pytest.mark.parametrize(("what", "path", "status"), HEADS, ids=[h[0] for h in HEADS])
async def test_response_heads_from_an_app_are_bounded(
    proxy: ProxyProcess, target: upstream_app.UpstreamState, what: str, path: str, status: int
) -> None:
    """One tenant's app cannot make the shared proxy buffer an unbounded response head."""
    responses, _ = await exchange(proxy.port, get(HOST, path), timeout=10)
    assert responses[0].status == status, what
    if status == 200:
        assert responses[0].body == b"ok"
        assert responses[0].header("x-f39") == "v" * 1000
    # The proxy is fine afterwards.
    again, _ = await exchange(proxy.port, get(HOST, "/name"))
    assert again[0].status == 200 and again[0].body == b"T"
