"""The proxy stays up when things around it fail: upstreams, PostgreSQL, its own workers."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from meshploy_proxy.launch import proxy_command, readiness, wait_ready
from meshploy_testbed.postgres import LocalPostgres, free_port

from meshploy_core.db import migrate
from meshploy_core.db.engine import create_engine
from meshploy_core.testing.poll import eventually
from tests.fixtures.postgres import make_temp_dir, settings_for
from tests.fixtures.proxy import ProxyProcess, Routes, start_proxy, unique_host
from tests.proxy import upstream_app

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


class UpstreamProcess:
    """tests.proxy.upstream_app in its own process, so it can be killed for real."""

    def __init__(self, name: str, port: int) -> None:
        self.name = name
        self.port = port
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        argv = [sys.executable, "-m", "tests.proxy.upstream_app"]
        self.proc = subprocess.Popen(
            [*argv, "--port", str(self.port), "--name", self.name],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.startswith("ready"), f"upstream {self.name} did not start: {line!r}"

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def killable() -> Iterator[tuple[UpstreamProcess, UpstreamProcess]]:
    """Upstreams A and B as processes."""
    pair = (UpstreamProcess("A", free_port()), UpstreamProcess("B", free_port()))
    for up in pair:
        up.start()
    yield pair
    for up in pair:
        up.kill()


async def _get(port: int, host: str, path: str = "/name") -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.get(f"http://127.0.0.1:{port}{path}", headers={"Host": host})


async def test_killed_upstream_fails_over_and_comes_back(
    proxy: ProxyProcess, routes: Routes, killable: tuple[UpstreamProcess, UpstreamProcess]
) -> None:
    a, b = killable
    host = unique_host("failover")
    await routes.add(host, [("127.0.0.1", a.port), ("127.0.0.1", b.port)])
    await eventually(lambda: _ok(proxy.port, host), what="route")
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{proxy.port}", timeout=10) as c:
        seen = {(await c.get("/name", headers={"Host": host})).text for _ in range(6)}
        assert seen == {"A", "B"}
        a.kill()  # mid-test, with pooled keep-alive connections to it open
        answers = [await c.get("/name", headers={"Host": host}) for _ in range(40)]
        assert [r.status_code for r in answers] == [200] * 40, "a request failed after the kill"
        assert {r.text for r in answers} == {"B"}
        a.start()  # back on the same port: passive health lets it in again

        async def a_serves() -> bool:
            return (await c.get("/name", headers={"Host": host})).text == "A"

        await eventually(a_serves, timeout=10, what="the recovered upstream to get traffic")


async def _ok(port: int, host: str) -> bool:
    return (await _get(port, host)).status_code == 200


@pytest.fixture
async def own_postgres() -> AsyncIterator[LocalPostgres]:
    """A PostgreSQL this test may stop and start (same data directory and port)."""
    root = make_temp_dir("meshploy-proxy-pg-")
    pg = LocalPostgres(root / "data", fsync=False)
    await asyncio.to_thread(pg.start)
    engine = create_engine(settings_for(pg.url()), pool_size=1)
    try:
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()
    yield pg
    await asyncio.to_thread(pg.stop, "immediate")
    shutil.rmtree(root, ignore_errors=True)


async def test_postgres_stopped_mid_test(own_postgres: LocalPostgres, tmp_path: Path) -> None:
    pg = own_postgres
    server, _, port = await upstream_app.start("P")
    before, after = unique_host("before"), unique_host("after")

    async def add_route(host: str) -> None:
        conn = await asyncpg.connect(pg.dsn())
        try:
            await Routes(conn).add(host, [("127.0.0.1", port)])
        finally:
            await conn.close()

    await add_route(before)
    proxy = await asyncio.to_thread(start_proxy, pg.url(), tmp_path)
    try:
        await eventually(lambda: _ok(proxy.port, before), what="route before the outage")
        await asyncio.to_thread(pg.stop, "fast")
        async with httpx.AsyncClient(timeout=5) as admin:

            async def disconnected() -> bool:
                text = (await admin.get(f"http://127.0.0.1:{proxy.admin_port}/metrics")).text
                return 'meshploy_proxy_database_connected{worker="0"} 0.0' in text

            await eventually(disconnected, what="the proxy to notice the database is gone")
            # The last good table keeps serving; unknown hosts still cost no query.
            for _ in range(20):
                assert (await _get(proxy.port, before)).status_code == 200
            assert (await _get(proxy.port, "nobody.test")).status_code == 404
            ready = await admin.get(f"http://127.0.0.1:{proxy.admin_port}/readyz")
            assert ready.status_code == 200
        await asyncio.to_thread(pg.start)  # same data directory, same port
        await add_route(after)
        await eventually(lambda: _ok(proxy.port, after), timeout=20, what="a route added after")
        assert (await _get(proxy.port, before)).status_code == 200
    finally:
        await asyncio.to_thread(proxy.stop)
        server.close()


def _vm_hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


async def test_one_gigabyte_upload_streams_with_bounded_memory(
    proxy: ProxyProcess, routes: Routes
) -> None:
    server, _, port = await upstream_app.start("U")
    host = unique_host("upload")
    await routes.add(host, [("127.0.0.1", port)])
    try:
        await eventually(lambda: _ok(proxy.port, host), what="route")
        (worker,) = proxy.worker_pids()
        total = 1 << 30
        piece = os.urandom(1 << 20)

        def pieces() -> Iterator[bytes]:
            for _ in range(total // len(piece)):
                yield piece

        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(
            f"POST /count HTTP/1.1\r\nHost: {host}\r\nContent-Length: {total}\r\n\r\n".encode()
        )
        for chunk in pieces():
            writer.write(chunk)
            await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
        assert head.startswith(b"HTTP/1.1 200"), head
        fields = dict(line.split(b": ", 1) for line in head.strip().split(b"\r\n")[1:])
        body = await reader.readexactly(int(fields[b"Content-Length"]))
        writer.close()
        assert int(body) == total, f"upstream counted {int(body)} bytes, want {total}"
        peak_mib = _vm_hwm_kib(worker) / 1024
        assert peak_mib < 100, f"proxy worker peak RSS {peak_mib:.0f} MiB; want < 100 MiB"
    finally:
        server.close()


async def test_graceful_shutdown_lets_in_flight_requests_finish(
    proxy_db: str, tmp_path: Path
) -> None:
    server, state, port = await upstream_app.start("G")
    host = unique_host("drain")
    conn = await asyncpg.connect(proxy_db.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await Routes(conn).add(host, [("127.0.0.1", port)])
    finally:
        await conn.close()
    own = await asyncio.to_thread(start_proxy, proxy_db, tmp_path)
    try:
        await eventually(lambda: _ok(own.port, host), what="route")
        async with (
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{own.port}", timeout=20) as c,
            c.stream("GET", "/sse?n=1", headers={"Host": host}) as resp,
        ):
            assert resp.status_code == 200
            own.proc.send_signal(signal.SIGTERM)  # mid-response

            async def draining() -> bool:
                r = await httpx.AsyncClient().get(f"http://127.0.0.1:{own.admin_port}/readyz")
                return r.status_code == 503 and r.json()["draining"]

            await eventually(draining, what="/readyz to report draining")
            state.sse_tokens.put_nowait(None)  # the in-flight response can now finish
            body = b"".join([chunk async for chunk in resp.aiter_raw()])
            assert body == b"id: 0\ndata: event 0\n\n"
        assert await asyncio.to_thread(own.proc.wait, 30) == 0
    finally:
        await asyncio.to_thread(own.stop)
        server.close()


async def test_workers_share_the_port_and_a_crashed_worker_is_replaced(
    proxy_db: str, tmp_path: Path
) -> None:
    server, _, port = await upstream_app.start("W")
    host = unique_host("workers")
    conn = await asyncpg.connect(proxy_db.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await Routes(conn).add(host, [("127.0.0.1", port)])
    finally:
        await conn.close()
    own = await asyncio.to_thread(start_proxy, proxy_db, tmp_path, workers=2)
    try:
        pids = own.worker_pids()
        assert len(set(pids)) == 2
        for _ in range(10):
            assert (await _get(own.port, host)).status_code == 200
        os.kill(pids[0], signal.SIGKILL)

        def replaced() -> bool:
            status = own.status()
            return bool(status["ready"]) and status["workers"][0]["restarts"] == 1

        await eventually(replaced, timeout=20, what="the crashed worker to be replaced")
        assert own.worker_pids()[0] != pids[0]
        for _ in range(10):
            assert (await _get(own.port, host)).status_code == 200
    finally:
        await asyncio.to_thread(own.stop)
        server.close()


def _nofile(pid: int) -> tuple[int, int]:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return int(soft), int(hard)
    raise AssertionError("no open-files limit")


async def test_open_files_limit_is_raised_to_the_hard_limit(proxy_db: str, tmp_path: Path) -> None:
    """Started with a soft limit of 256 (systemd gives 1024), workers get the hard limit."""
    port, admin_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESHPLOY_PROXY_")}
    env["DATABASE_URL"] = proxy_db
    argv = proxy_command(workers=2, port=port, admin_port=admin_port)
    err = (tmp_path / "proxy.err").open("wb")
    proc = subprocess.Popen(["prlimit", "--nofile=256:8192", *argv], env=env, stderr=err)
    try:
        wait_ready(proc, admin_port, timeout=30)
        workers = [w["pid"] for w in readiness(admin_port)["workers"]]
        assert len(workers) == 2
        assert _nofile(proc.pid) == (8192, 8192)
        for pid in workers:
            assert _nofile(pid) == (8192, 8192)
    finally:
        proc.terminate()
        proc.wait(30)
        err.close()
