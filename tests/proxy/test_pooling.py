"""Pooled upstream connections that the upstream closes at the same instant we reuse them.

What must hold (docs/proxy.md, "Reusing pooled connections"): a connection whose FIN has
already arrived is never written to (the request goes to a fresh connection, whatever its
method); one that closes after a request went out on it, before any response byte, is the
connection's fault, not the upstream's: an idempotent request is retried once on a fresh
connection, a POST is answered 502 (it may have been processed; nginx and Envoy do not replay
it either), and the upstream stays in rotation.

The upstream (``tests.proxy.upstream_app``) closes deterministically: ``/name?fin=1`` sends its
answer and FIN in one segment, so the FIN is waiting on the pooled socket when the next request
arrives; ``/arm-close`` makes the connection swallow the next request and close.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from meshploy_core.testing.poll import eventually
from tests.fixtures.proxy import ProxyProcess, Routes, routed_upstream
from tests.proxy import upstream_app
from tests.proxy.client import Connection, exchange, get, request

pytestmark = pytest.mark.integration


@pytest.fixture
async def app(
    proxy: ProxyProcess, routes: Routes
) -> AsyncIterator[tuple[str, upstream_app.UpstreamState]]:
    """A routed upstream of its own (so its pool holds only this test's connections)."""
    server, state, host = await routed_upstream(proxy, routes, "P", "pool")
    yield host, state
    server.close()


def upstreams_down(proxy: ProxyProcess) -> int:
    """The worker's meshploy_proxy_upstreams_down gauge."""
    text = httpx.get(f"http://127.0.0.1:{proxy.admin_port}/metrics").text
    m = re.search(r"^meshploy_proxy_upstreams_down\{[^}]*\} (\S+)$", text, re.M)
    assert m is not None, "no meshploy_proxy_upstreams_down in /metrics"
    return int(float(m.group(1)))


def closed_since(state: upstream_app.UpstreamState, before: int) -> Callable[[], bool]:
    """Whether one of the upstream's connections closed since it counted ``before``."""
    return lambda: state.closed > before


async def log_entry(proxy: ProxyProcess, host: str, method: str, target: str) -> dict[str, object]:
    """The latest access-log line for ``method target`` on ``host`` (polled: lines are batched)."""
    entry: dict[str, object] = await eventually(
        lambda: next(
            (
                e
                for e in reversed(proxy.access_log())
                if e["host"] == host and e["method"] == method and e["target"] == target
            ),
            None,
        ),
        what=f"the access-log line of {method} {target}",
    )
    return entry


async def test_a_get_on_a_connection_the_upstream_closed_while_idle_never_fails(
    proxy: ProxyProcess, app: tuple[str, upstream_app.UpstreamState]
) -> None:
    host, state = app
    conn = await Connection.open(proxy.port)
    try:
        for _ in range(10):
            # Pipelined: the next request starts before the proxy's loop has read the FIN.
            got = await conn.send(get(host, "/name?fin=1") + get(host, "/name"), responses=2)
            assert [(r.status, r.body) for r in got] == [(200, b"P"), (200, b"P")]
            # Sequential, once the upstream has closed its end of the idle connection.
            closed = state.closed
            (first,) = await conn.send(get(host, "/name?fin=1"))
            assert first.status == 200
            await eventually(closed_since(state, closed), what="the upstream to close its end")
            (after,) = await conn.send(get(host, "/name"))
            assert (after.status, after.body) == (200, b"P")
    finally:
        conn.close()
    assert upstreams_down(proxy) == 0, "an idle close was held against the upstream"


async def test_a_get_on_a_connection_closed_as_it_is_sent_is_retried_once_on_a_fresh_one(
    proxy: ProxyProcess, app: tuple[str, upstream_app.UpstreamState]
) -> None:
    host, state = app
    conn = await Connection.open(proxy.port)
    try:
        for method in ("GET", "OPTIONS", "DELETE"):
            (armed,) = await conn.send(get(host, "/arm-close"))
            assert armed.status == 200
            target = f"/name?closed-as-sent={method}"  # its own access-log line
            (r,) = await conn.send(request(method, host, target))
            assert r.status == 200, f"{method}: got {r.status} {r.body[:200]!r}"
            assert r.body == b"P"
            assert state.dropped[-1] == (method, target)  # the first try reached the app
            assert state.seen[-2:] == [(method, target)] * 2
            entry = await log_entry(proxy, host, method, target)
            assert entry["status"] == 200 and entry["attempts"] == 2
    finally:
        conn.close()
    assert upstreams_down(proxy) == 0, "a stale pooled connection counted against the upstream"


async def test_a_put_body_is_replayed_when_it_was_small_enough_to_keep(
    proxy: ProxyProcess, app: tuple[str, upstream_app.UpstreamState]
) -> None:
    host, state = app
    conn = await Connection.open(proxy.port)
    try:
        body = b"x" * 5000
        (armed,) = await conn.send(get(host, "/arm-close"))
        assert armed.status == 200
        (r,) = await conn.send(request("PUT", host, "/count", body))
        assert (r.status, r.body) == (200, b"5000")
        assert state.seen[-2:] == [("PUT", "/count")] * 2
        # Too large to keep for a replay (over 64 KiB): answered 502, not retried.
        big = b"y" * (65 * 1024)
        (armed,) = await conn.send(get(host, "/arm-close"))
        assert armed.status == 200
        (r,) = await conn.send(request("PUT", host, "/count", big))
        assert r.status == 502
        assert b"not retried" in r.body
        assert state.seen.count(("PUT", "/count")) == 3
    finally:
        conn.close()


async def test_a_post_on_a_connection_closed_as_it_is_sent_gets_a_502_and_is_never_replayed(
    proxy: ProxyProcess, app: tuple[str, upstream_app.UpstreamState]
) -> None:
    host, state = app
    conn = await Connection.open(proxy.port)
    try:
        for method in ("POST", "PATCH"):
            (armed,) = await conn.send(get(host, "/arm-close"))
            assert armed.status == 200
            (r,) = await conn.send(request(method, host, "/count", b"order=1"))
            assert r.status == 502, f"{method}: got {r.status} {r.body[:200]!r}"
            text = r.body.decode()
            assert "not retried" in text and method in text, text
            # The app received it once and never again: replaying could run it twice.
            assert state.seen.count((method, "/count")) == 1
            assert state.dropped[-1] == (method, "/count")
            # The client connection stays usable; the next request goes to a fresh connection.
            (after,) = await conn.send(get(host, "/name"))
            assert (after.status, after.body) == (200, b"P")
        entry = await log_entry(proxy, host, "POST", "/count")
        assert entry["status"] == 502 and entry["attempts"] == 1
    finally:
        conn.close()
    assert upstreams_down(proxy) == 0, "a stale pooled connection counted against the upstream"


async def test_a_post_never_goes_out_on_a_connection_whose_fin_already_arrived(
    proxy: ProxyProcess, app: tuple[str, upstream_app.UpstreamState]
) -> None:
    host, state = app
    for i in range(10):
        # Pipelined behind an answer that came with a FIN: the pooled connection is still in
        # the pool, unread FIN and all, when the POST is bound. It must take a fresh one.
        body = f"order={i}".encode()
        wire = get(host, "/name?fin=1") + request("POST", host, "/count", body)
        got, _ = await exchange(proxy.port, wire, responses=2)
        assert [(r.status, r.body) for r in got] == [(200, b"P"), (200, str(len(body)).encode())]
    assert state.seen.count(("POST", "/count")) == 10
    assert state.dropped == []


async def test_a_response_smuggled_after_a_chunked_body_never_answers_the_next_request(
    proxy: ProxyProcess, app: tuple[str, upstream_app.UpstreamState]
) -> None:
    host, _ = app
    # A broken app sends a second response head after its chunked body, in the same read.
    # Pooled, the connection's parser would take the next answer as that head's body (it has
    # no length: until the close), and the next request would time out.
    first = get(host, "/bytes?n=10&smuggle=1")
    got, _ = await exchange(proxy.port, first + get(host, "/name"), responses=2)
    assert [(r.status, r.body) for r in got] == [(200, b"x" * 10), (200, b"P")]
    assert got[1].header("x-smuggled") is None
    conn = await Connection.open(proxy.port)
    try:
        (r,) = await conn.send(first)
        assert (r.status, r.body) == (200, b"x" * 10)
        (r,) = await conn.send(get(host, "/name"))
        assert (r.status, r.body, r.header("x-smuggled")) == (200, b"P", None)
    finally:
        conn.close()


@pytest.mark.parametrize("size", [100, 20_000, 70_000], ids=["parsed", "view", "view+splice"])
async def test_junk_right_after_a_body_is_dropped_with_the_connection(
    proxy: ProxyProcess, app: tuple[str, upstream_app.UpstreamState], size: int
) -> None:
    """Bodies small enough for the parser, and large ones passed on as views of the read."""
    host, _ = app
    wire = get(host, f"/blob?n={size}&extra=5") + get(host, "/blob?n=100") + get(host, "/name")
    got, _ = await exchange(proxy.port, wire, responses=3)
    assert [(r.status, len(r.body)) for r in got] == [(200, size), (200, 100), (200, 1)]
    assert got[0].body == upstream_app.blob(size) and got[1].body == upstream_app.blob(100)
