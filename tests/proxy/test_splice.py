"""Large Content-Length bodies relayed with splice(2): every byte, in order, nothing leaked.

The relay bypasses the transports, so these tests look at what could go wrong only there:
bodies at and around the size threshold, pipelined responses staying in order, a client
reading slowly, an upstream dying mid-body, a client leaving mid-body, and descriptors
(duplicated sockets, pipes) left open afterwards. The same bodies also go through a proxy
started with ``--no-splice`` (the ordinary path) for comparison.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from meshploy_proxy.splice import SPLICE_MIN

from meshploy_core.testing.poll import eventually
from tests.fixtures.proxy import ProxyProcess, Routes, routed_upstream, start_proxy
from tests.proxy import upstream_app
from tests.proxy.client import Connection, exchange, get

pytestmark = pytest.mark.integration

MIB = 1024 * 1024
SIZES = (SPLICE_MIN - 1, SPLICE_MIN, MIB + 7, 16 * MIB)


@pytest.fixture(scope="module")
def plain_proxy(proxy_db: str, proxy_out_dir: Path) -> Iterator[ProxyProcess]:
    """A second proxy on the same routes with splicing switched off."""
    running = start_proxy(proxy_db, proxy_out_dir, args=("--no-splice", "--read-timeout", "2"))
    yield running
    running.stop()


@pytest.fixture
async def blob_host(
    proxy: ProxyProcess, routes: Routes
) -> AsyncIterator[tuple[str, upstream_app.UpstreamState]]:
    """A routed upstream serving /blob."""
    server, state, host = await routed_upstream(proxy, routes, "B", "blob")
    yield host, state
    server.close()


def spliced_bytes(proxy: ProxyProcess) -> int:
    """The proxy's meshploy_proxy_spliced_bytes_total."""
    text = httpx.get(f"http://127.0.0.1:{proxy.admin_port}/metrics").text
    m = re.search(r"^meshploy_proxy_spliced_bytes_total (\S+)$", text, re.M)
    assert m is not None, "no meshploy_proxy_spliced_bytes_total in /metrics"
    return int(float(m.group(1)))


def upstream_resets(proxy: ProxyProcess) -> int:
    """meshploy_proxy_upstream_errors_total{kind="reset"}."""
    text = httpx.get(f"http://127.0.0.1:{proxy.admin_port}/metrics").text
    m = re.search(r'^meshploy_proxy_upstream_errors_total\{kind="reset"\} (\S+)$', text, re.M)
    assert m is not None
    return int(float(m.group(1)))


def leaked_descriptors(pid: int) -> list[str]:
    """Sockets open twice in ``pid`` (a duplicate the relay forgot) and stray pipes."""
    seen: dict[str, int] = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:
            continue
        seen[target] = seen.get(target, 0) + 1
    doubled = [t for t, n in seen.items() if t.startswith("socket:") and n > 1]
    pipes = [t for t in seen if t.startswith("pipe:")]
    # The worker's own pipes (stdio, the supervisor's control channel) are few; the relay's
    # pool keeps at most 64 idle pipes. More, or a socket open twice, is a leak.
    return doubled + (pipes if len(pipes) > 2 * 64 + 8 else [])


async def test_bodies_around_the_threshold_arrive_intact_on_one_connection(
    proxy: ProxyProcess, plain_proxy: ProxyProcess, blob_host: tuple[str, object]
) -> None:
    host, state = blob_host
    assert isinstance(state, upstream_app.UpstreamState)
    for running, spliced in ((proxy, True), (plain_proxy, False)):
        before = spliced_bytes(running)
        connections = state.connections
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{running.port}") as c:
            for n in SIZES:
                r = await c.get(f"/blob?n={n}", headers={"Host": host}, timeout=30)
                assert r.status_code == 200
                assert r.headers["content-length"] == str(n)
                assert len(r.content) == n
                want = hashlib.sha256(upstream_app.blob(n)).hexdigest()
                assert hashlib.sha256(r.content).hexdigest() == want, f"{n} bytes corrupted"
            again = await c.get("/name", headers={"Host": host})
            assert again.text == "B"
        # One client connection, one pooled upstream connection for all of it.
        assert state.connections - connections <= 1
        moved = spliced_bytes(running) - before
        if spliced:
            # Everything at or above the threshold, less what came with each head.
            large = sum(n for n in SIZES if n >= SPLICE_MIN)
            assert large // 2 < moved <= large, f"spliced {moved} of {large} bytes"
        else:
            assert moved == 0


async def test_pipelined_large_responses_stay_in_order(
    proxy: ProxyProcess, blob_host: tuple[str, object]
) -> None:
    host, _ = blob_host
    sizes = (3 * MIB, 100, 2 * MIB + 1, SPLICE_MIN)
    # The first upstream answer is followed by junk: none of it may reach the client.
    wire = b"".join(
        get(host, f"/blob?n={n}&extra={9 if i == 0 else 0}") for i, n in enumerate(sizes)
    )
    responses, _ = await exchange(proxy.port, wire, responses=len(sizes), timeout=30)
    assert [len(r.body) for r in responses] == list(sizes)
    for r, n in zip(responses, sizes, strict=True):
        assert r.status == 200 and r.body == upstream_app.blob(n)


@pytest.mark.parametrize("late", [False, True], ids=["junk-at-once", "junk-late"])
@pytest.mark.parametrize("spliced", [False, True], ids=["no-splice", "splice"])
async def test_junk_after_a_body_never_fails_the_next_request(
    proxy: ProxyProcess,
    plain_proxy: ProxyProcess,
    blob_host: tuple[str, object],
    spliced: bool,
    late: bool,
) -> None:
    """The race above, on both paths, pipelined and sequential.

    The junk arrives on the upstream connection while it is pooled, as it is reused, or (late)
    after the next request went out on it: that request must still get its own answer (the
    connection is dropped, and the request goes to, or is retried on, a fresh one).
    """
    running = proxy if spliced else plain_proxy
    host, _ = blob_host
    sizes = (3 * MIB, 100, 2 * MIB + 1, SPLICE_MIN)
    junk = "&extra=9" + ("&late=20" if late else "")
    targets = [f"/blob?n={n}" + (junk if i == 0 else "") for i, n in enumerate(sizes)]
    pipelined, _ = await exchange(
        running.port, b"".join(get(host, t) for t in targets), responses=len(sizes), timeout=30
    )
    conn = await Connection.open(running.port)
    try:
        sequential = [(await conn.send(get(host, t), timeout=30))[0] for t in targets]
    finally:
        conn.close()
    for responses in (pipelined, sequential):
        got = [(r.status, len(r.body)) for r in responses]
        assert got == [(200, n) for n in sizes], f"got {got}"
        for r, n in zip(responses, sizes, strict=True):
            assert r.body == upstream_app.blob(n)


async def test_a_slow_reader_gets_every_byte(
    proxy: ProxyProcess, blob_host: tuple[str, object]
) -> None:
    host, _ = blob_host
    n = 8 * MIB
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a tiny window: sends block
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, ("127.0.0.1", proxy.port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
    try:
        writer.write(get(host, f"/blob?n={n}"))
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 200")
        digest = hashlib.sha256()
        got = 0
        while got < n:
            piece = await asyncio.wait_for(reader.read(min(4096, n - got)), 10)
            assert piece, f"connection closed after {got} of {n} body bytes"
            digest.update(piece)
            got += len(piece)
        assert digest.hexdigest() == hashlib.sha256(upstream_app.blob(n)).hexdigest()
    finally:
        writer.close()


async def test_upstream_dying_mid_body_drops_the_client_and_nothing_leaks(
    proxy: ProxyProcess, blob_host: tuple[str, object]
) -> None:
    host, _ = blob_host
    (worker,) = proxy.worker_pids()
    resets = upstream_resets(proxy)
    n, cut = 8 * MIB, 3 * MIB
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    try:
        writer.write(get(host, f"/blob?n={n}&cut={cut}"))
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 200") and f"Content-Length: {n}".encode() in head
        got = b""
        while True:
            piece = await asyncio.wait_for(reader.read(MIB), 10)
            if not piece:
                break
            got += piece
        # A short body and a closed connection: the client cannot mistake it for the file.
        assert len(got) == cut
        assert got == upstream_app.blob(n)[:cut]
    finally:
        writer.close()
    await eventually(lambda: upstream_resets(proxy) == resets + 1, what="the reset counted")
    await eventually(lambda: not leaked_descriptors(worker), what="no leaked descriptors")
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{proxy.port}") as c:
        r = await c.get(f"/blob?n={MIB}", headers={"Host": host})
        assert r.content == upstream_app.blob(MIB)


async def test_client_leaving_mid_body_closes_the_upstream_connection(
    proxy: ProxyProcess, blob_host: tuple[str, object]
) -> None:
    host, state = blob_host
    assert isinstance(state, upstream_app.UpstreamState)
    (worker,) = proxy.worker_pids()
    closed = state.closed
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, ("127.0.0.1", proxy.port))
    await loop.sock_sendall(sock, get(host, f"/blob?n={16 * MIB}"))
    first = await asyncio.wait_for(loop.sock_recv(sock, 4096), 10)
    assert first.startswith(b"HTTP/1.1 200")
    sock.close()  # unread bytes: the kernel resets the connection
    # The proxy drops the half-sent response's upstream connection instead of pooling it.
    await eventually(lambda: state.closed > closed, what="the upstream connection closed")
    await eventually(lambda: not leaked_descriptors(worker), what="no leaked descriptors")
    entry = await eventually(
        lambda: next(
            (
                e
                for e in reversed(proxy.access_log())
                if e["host"] == host and e["target"] == f"/blob?n={16 * MIB}"
            ),
            None,
        ),
        what="the access log line",
    )
    assert entry["error"] == "client closed the connection"
    assert entry["bytes_out"] < 16 * MIB
