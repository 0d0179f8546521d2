"""Routes from PostgreSQL, followed live, and ordinary proxying over real sockets."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import httpx
import pytest
from meshploy_testbed.postgres import free_port

from meshploy_core.testing.poll import eventually
from tests.fixtures.proxy import ProxyProcess, Routes, unique_host
from tests.proxy import upstream_app
from tests.proxy.client import exchange, get

pytestmark = pytest.mark.integration


Pair = tuple[upstream_app.UpstreamState, upstream_app.UpstreamState]


@pytest.fixture
async def two_upstreams() -> AsyncIterator[Pair]:
    """Upstreams A and B in this process."""
    (sa, a, _), (sb, b, _) = [await upstream_app.start(name) for name in ("A", "B")]
    yield a, b
    sa.close()
    sb.close()


def _port(state: upstream_app.UpstreamState) -> int:
    return state.port


@pytest.fixture
async def client(proxy: ProxyProcess) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client pointed at the proxy (set Host per request)."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{proxy.port}", timeout=10) as c:
        yield c


async def test_inserted_route_serves_within_one_second(
    proxy: ProxyProcess, routes: Routes, client: httpx.AsyncClient, two_upstreams: Pair
) -> None:
    a, _ = two_upstreams
    host = unique_host()
    assert (await client.get("/name", headers={"Host": host})).status_code == 404
    started = time.monotonic()
    await routes.add(host, [("127.0.0.1", _port(a))])

    async def served() -> bool:
        resp = await client.get("/name", headers={"Host": host})
        return resp.status_code == 200 and resp.text == "A"

    await eventually(served, timeout=5, what="the new route to serve")
    elapsed = time.monotonic() - started
    assert elapsed < 1.0, f"route served after {elapsed:.3f}s; want < 1s"


async def test_update_rename_and_delete_are_followed(
    proxy: ProxyProcess, routes: Routes, client: httpx.AsyncClient, two_upstreams: Pair
) -> None:
    a, b = two_upstreams
    host, renamed = unique_host(), unique_host("renamed")
    rid = await routes.add(host, [("127.0.0.1", _port(a))])

    async def answer(h: str) -> str:
        resp = await client.get("/name", headers={"Host": h})
        return str(resp.text) if resp.status_code == 200 else str(resp.status_code)

    await eventually(lambda: _eq(answer(host), "A"), what="route to A")
    await routes.set_upstreams(rid, [("127.0.0.1", _port(b))])
    await eventually(lambda: _eq(answer(host), "B"), what="route moved to B")
    await routes.rename(rid, renamed)
    await eventually(lambda: _eq(answer(renamed), "B"), what="renamed host")
    assert await answer(host) == "404"  # the old name is gone with only one NOTIFY
    await routes.delete(rid)
    await eventually(lambda: _eq(answer(renamed), "404"), what="deleted route")


async def _eq(value: Awaitable[object], want: object) -> bool:
    return await value == want


async def test_wildcard_and_path_prefix_routes(
    proxy: ProxyProcess, routes: Routes, client: httpx.AsyncClient, two_upstreams: Pair
) -> None:
    a, b = two_upstreams
    domain = unique_host("zone")
    await routes.add(f"*.{domain}", [("127.0.0.1", _port(a))])
    await routes.add(f"api.{domain}", [("127.0.0.1", _port(b))], path_prefix="/v2")
    url = "/headers"

    async def who(host: str, path: str) -> str:
        resp = await client.get(path, headers={"Host": host})
        return str(resp.headers.get("x-upstream", resp.status_code))

    await eventually(lambda: _eq(who(f"api.{domain}", "/v2/headers"), "B"), what="prefix route")
    assert await who(f"anything.{domain}", url) == "A"
    assert await who(f"api.{domain}", url) == "A"  # outside /v2: the wildcard
    assert await who(f"API.{domain.upper()}.", url) == "A"  # case and trailing dot
    assert await who(f"a.b.{domain}", url) == "404"


async def test_unknown_host_and_empty_upstreams(
    proxy: ProxyProcess, routes: Routes, client: httpx.AsyncClient
) -> None:
    resp = await client.get("/", headers={"Host": "nobody-here.test"})
    assert resp.status_code == 404
    assert "No application is configured" in resp.text
    assert resp.headers["x-request-id"]
    host = unique_host()
    await routes.add(host, [])
    await eventually(
        lambda: _eq(_status(client, host), 503), what="503 for a route without upstreams"
    )


async def _status(client: httpx.AsyncClient, host: str, path: str = "/name") -> int:
    return (await client.get(path, headers={"Host": host})).status_code


async def test_load_is_spread_and_headers_are_forwarded(
    proxy: ProxyProcess, routes: Routes, client: httpx.AsyncClient, two_upstreams: Pair
) -> None:
    a, b = two_upstreams
    host = unique_host()
    await routes.add(host, [("127.0.0.1", _port(a)), ("127.0.0.1", _port(b))])
    await eventually(lambda: _eq(_status(client, host), 200), what="route")
    names = [(await client.get("/name", headers={"Host": host})).text for _ in range(20)]
    assert names.count("A") == names.count("B") == 10
    resp = await client.get(
        "/headers?x=1",
        headers={
            "Host": host,
            "Connection": "keep-alive, X-Hop",
            "X-Hop": "secret",
            "X-Forwarded-For": "6.6.6.6",
            "X-Request-Id": "spoof",
        },
    )
    seen = {k.lower(): v for k, v in resp.json()["headers"]}
    assert resp.json()["target"] == "/headers?x=1"
    assert seen["host"] == host
    assert seen["x-forwarded-for"] == "127.0.0.1"  # not trusted in tests: replaced
    assert seen["x-forwarded-proto"] == "http"
    assert seen["x-forwarded-host"] == host
    assert seen["x-request-id"] != "spoof"
    assert "x-hop" not in seen and "connection" not in seen


async def test_keep_alive_and_pipelining_over_one_connection(
    proxy: ProxyProcess, routes: Routes, client: httpx.AsyncClient, two_upstreams: Pair
) -> None:
    a, _ = two_upstreams
    host = unique_host()
    await routes.add(host, [("127.0.0.1", _port(a))])
    await eventually(lambda: _eq(_status(client, host), 200), what="route")
    targets = ["/name", "/status?code=201", "/nothing", "/name"]
    wire = b"".join(get(host, t) for t in targets)
    responses, closed = await exchange(proxy.port, wire, responses=4)
    assert [r.status for r in responses] == [200, 201, 404, 200]
    assert not closed
    responses, closed = await exchange(proxy.port, get(host, "/name", "Connection: close\r\n"))
    assert responses[0].status == 200 and responses[0].header("connection") == "close"
    assert closed


async def test_errors_are_short_readable_pages(
    proxy: ProxyProcess, routes: Routes, client: httpx.AsyncClient, two_upstreams: Pair
) -> None:
    a, _ = two_upstreams
    dead, hang = unique_host("dead"), unique_host("hang")
    await routes.add(dead, [("127.0.0.1", free_port())])
    await routes.add(hang, [("127.0.0.1", _port(a))])
    await eventually(lambda: _eq(_status(client, dead), 502), what="502 for a refused upstream")
    resp = await client.get("/hang", headers={"Host": hang})  # --read-timeout 2
    assert resp.status_code == 504
    assert "took too long" in resp.text
    assert len(resp.content) < 2000


async def test_admin_endpoints_and_access_log(
    proxy: ProxyProcess, routes: Routes, client: httpx.AsyncClient, two_upstreams: Pair
) -> None:
    a, _ = two_upstreams
    host = unique_host()
    await routes.add(host, [("127.0.0.1", _port(a))])
    await eventually(lambda: _eq(_status(client, host), 200), what="route")
    rid = (await client.get("/headers", headers={"Host": host})).json()["headers"]
    request_id = dict((k.lower(), v) for k, v in rid)["x-request-id"]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{proxy.admin_port}") as admin:
        assert (await admin.get("/healthz")).status_code == 200
        ready = await admin.get("/readyz")
        assert ready.status_code == 200 and ready.json()["ready"] is True
        metrics = (await admin.get("/metrics")).text
    assert 'meshploy_proxy_requests_total{code="200"}' in metrics
    assert "meshploy_proxy_request_duration_seconds_bucket" in metrics
    assert 'meshploy_proxy_routes{worker="0"}' in metrics
    assert 'meshploy_proxy_database_connected{worker="0"} 1.0' in metrics
    assert "meshploy_proxy_route_table_age_seconds" in metrics
    assert 'meshploy_proxy_upstream_errors_total{kind="connect_refused"}' in metrics

    def logged() -> dict[str, Any] | None:
        return next((e for e in proxy.access_log() if e["request_id"] == request_id), None)

    entry = await eventually(logged, what="the access log line")
    assert entry["status"] == 200 and entry["host"] == host and entry["method"] == "GET"
    assert entry["upstream"] == f"127.0.0.1:{_port(a)}"
    assert json.dumps(entry)  # one JSON object per line
