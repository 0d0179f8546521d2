"""The proxy's pure parts: route table, head rewriting, balancer (no sockets)."""

from __future__ import annotations

import json

import pytest
from meshploy_proxy.balancer import Balancer
from meshploy_proxy.headers import (
    BODY_CHUNKED,
    BODY_NONE,
    OUT_CHUNKED,
    OUT_NONE,
    OUT_RAW,
    Rejected,
    build_response_head,
    prepare_request,
)
from meshploy_proxy.routes import Route, RouteBuilder, RouteRow, RouteTable
from meshploy_proxy.upstream import UpstreamRegistry


def _table(*rows: tuple[str, str, str, list[int]]) -> tuple[RouteTable, UpstreamRegistry]:
    registry = UpstreamRegistry()
    builder = RouteBuilder(registry.get)
    table = RouteTable()
    for rid, host, prefix, ports in rows:
        upstreams = json.dumps([{"host": "10.0.0.1", "port": p} for p in ports])
        table.add_all([builder.build(RouteRow(rid, host, prefix, upstreams))])
    return table, registry


def _port(route: Route | None) -> int | None:
    return route.upstreams[0].port if route is not None else None


def test_exact_wildcard_and_prefix_lookup() -> None:
    table, _ = _table(
        ("1", "app.example.com", "/", [1]),
        ("2", "app.example.com", "/api/", [2]),
        ("3", "app.example.com", "/api/v2", [3]),
        ("4", "*.example.com", "/", [4]),
        ("5", "Shop.Example.COM.", "/", [5]),
    )
    assert _port(table.lookup(b"app.example.com", b"/")) == 1
    assert _port(table.lookup(b"app.example.com", b"/api")) == 2
    assert _port(table.lookup(b"app.example.com", b"/api?q=1")) == 2
    assert _port(table.lookup(b"app.example.com", b"/api/users")) == 2
    assert _port(table.lookup(b"app.example.com", b"/apix")) == 1
    assert _port(table.lookup(b"app.example.com", b"/api/v2/x")) == 3
    assert _port(table.lookup(b"other.example.com", b"/")) == 4
    assert _port(table.lookup(b"shop.example.com", b"/")) == 5
    # A wildcard covers exactly one label, like a TLS wildcard certificate.
    assert table.lookup(b"a.b.example.com", b"/") is None
    assert table.lookup(b"example.com", b"/") is None
    assert table.lookup(b"unknown.test", b"/") is None
    assert len(table) == 5


def test_exact_host_without_matching_prefix_falls_back_to_wildcard() -> None:
    table, _ = _table(("1", "app.example.com", "/admin", [1]), ("2", "*.example.com", "/", [2]))
    assert _port(table.lookup(b"app.example.com", b"/admin/x")) == 1
    assert _port(table.lookup(b"app.example.com", b"/")) == 2


def test_replace_host_handles_rename_and_delete() -> None:
    table, registry = _table(("1", "old.test", "/", [1]), ("2", "keep.test", "/", [2]))
    builder = RouteBuilder(registry.get)
    # Route 1 renamed to new.test: only new.test's notification arrives.
    table.replace_host("new.test", [builder.build(RouteRow("1", "new.test", "/", "[]"))])
    assert table.lookup(b"old.test", b"/") is None
    assert table.lookup(b"new.test", b"/") is not None
    table.replace_host("keep.test", [])
    assert table.lookup(b"keep.test", b"/") is None
    assert len(table) == 1


def test_builder_shares_upstreams_and_skips_malformed_entries() -> None:
    registry = UpstreamRegistry()
    builder = RouteBuilder(registry.get)
    text = '[{"host": "10.0.0.1", "port": 30001}, {"host": "", "port": 1}, {"port": 2}, 7]'
    a = builder.build(RouteRow("1", "a.test", "/", text))
    b = builder.build(RouteRow("2", "b.test", "/", text))
    assert [u.label for u in a.upstreams] == ["10.0.0.1:30001"]
    assert a.upstreams is b.upstreams
    assert builder.invalid == 3
    assert builder.build(RouteRow("3", "c.test", "/", "not json")).upstreams == ()


def _prepare(headers: list[tuple[bytes, bytes]], **kw: object) -> bytes:
    args: dict[str, object] = {
        "method": b"GET",
        "target": b"/x",
        "headers": headers,
        "version": "1.1",
        "upgrade": False,
        "client_ip": b"203.0.113.9",
        "trusted": False,
        "new_request_id": b"rid-1",
    }
    args.update(kw)
    return prepare_request(**args).head  # type: ignore[arg-type]


def test_request_head_drops_hop_by_hop_and_sets_forwarding_headers() -> None:
    head = _prepare(
        [
            (b"Host", b"app.test:8081"),
            (b"Connection", b"keep-alive, X-Secret, Host"),
            (b"X-Secret", b"hop"),
            (b"Keep-Alive", b"timeout=5"),
            (b"TE", b"trailers"),
            (b"Upgrade", b"h2c"),
            (b"Proxy-Connection", b"x"),
            (b"X-Forwarded-For", b"1.2.3.4"),
            (b"X-Request-Id", b"spoofed"),
            (b"Accept", b"*/*"),
        ]
    )
    text = head.decode()
    assert text.startswith("GET /x HTTP/1.1\r\n")
    for gone in ("Connection", "X-Secret", "Keep-Alive", "TE:", "Upgrade", "Proxy-Connection"):
        assert gone not in text, (gone, text)
    assert "Host: app.test:8081\r\n" in text  # a Connection token cannot remove Host
    assert "Accept: */*\r\n" in text
    # An untrusted client's X-Forwarded-For and request id are replaced, not extended.
    assert "X-Forwarded-For: 203.0.113.9\r\n" in text
    assert "1.2.3.4" not in text
    assert "X-Request-Id: rid-1\r\n" in text
    assert "X-Forwarded-Proto: http\r\n" in text
    assert "X-Forwarded-Host: app.test:8081\r\n" in text
    assert text.endswith("Via: 1.1 meshploy\r\n\r\n")


def test_trusted_peer_forwarding_headers_are_extended() -> None:
    head = _prepare(
        [
            (b"Host", b"app.test"),
            (b"X-Forwarded-For", b"198.51.100.7"),
            (b"X-Forwarded-Proto", b"https"),
            (b"X-Request-Id", b"abc-123"),
        ],
        trusted=True,
        client_ip=b"127.0.0.1",
    ).decode()
    assert "X-Forwarded-For: 198.51.100.7, 127.0.0.1\r\n" in head
    assert "X-Forwarded-Proto: https\r\n" in head
    assert "X-Request-Id: abc-123\r\n" in head


@pytest.mark.parametrize(
    ("headers", "kw", "status"),
    [
        ([], {}, 400),
        ([(b"Host", b"a.test"), (b"Host", b"b.test")], {}, 400),
        ([(b"Host", b"a test")], {}, 400),
        ([(b"Host", b"a.test/x")], {}, 400),
        ([(b"Host", b"a.test"), (b"Transfer-Encoding", b"gzip, chunked")], {}, 501),
        ([(b"Host", b"a.test"), (b"Transfer-Encoding", b"chunked")], {"version": "1.0"}, 400),
        ([(b"Host", b"a.test"), (b"Expect", b"magic")], {}, 417),
        ([(b"Host", b"a.test")], {"version": "2.0"}, 505),
        ([(b"Host", b"a.test")], {"method": b"CONNECT"}, 405),
        ([(b"Host", b"a.test")], {"target": b"x"}, 400),
        ([(b"Host", b"a.test")], {"target": b"http://u:p@a.test/"}, 400),
    ],
)
def test_request_head_rejections(
    headers: list[tuple[bytes, bytes]], kw: dict[str, object], status: int
) -> None:
    with pytest.raises(Rejected) as info:
        _prepare(headers, **kw)
    assert info.value.status == status


def test_absolute_form_target_sets_host_and_body_framing() -> None:
    prep = prepare_request(
        b"POST",
        b"http://Other.Test:81/p?q",
        [(b"Host", b"ignored.test"), (b"Transfer-Encoding", b"chunked")],
        "1.1",
        False,
        b"127.0.0.1",
        False,
        b"r",
    )
    assert prep.host_key == b"other.test"
    assert prep.target == b"/p?q"
    assert prep.body == BODY_CHUNKED
    assert b"ignored.test" not in prep.head
    assert b"Transfer-Encoding: chunked\r\n" in prep.head
    plain = prepare_request(b"GET", b"/", [(b"Host", b"a.test")], "1.1", False, b"::1", False, b"r")
    assert plain.body == BODY_NONE


def test_response_head_framing() -> None:
    chunked = build_response_head(
        200,
        b"OK",
        [(b"Transfer-Encoding", b"chunked"), (b"Connection", b"X-Hop"), (b"X-Hop", b"1")],
        head_request=False,
        client_11=True,
        keep_alive=True,
    )
    assert chunked.out == OUT_CHUNKED
    assert b"X-Hop" not in chunked.data
    assert chunked.data.endswith(b"Transfer-Encoding: chunked\r\n\r\n")
    until_close = build_response_head(
        200, b"OK", [(b"Content-Type", b"text/event-stream")],
        head_request=False, client_11=False, keep_alive=True,
    )  # fmt: skip
    assert (until_close.out, until_close.keep_alive, until_close.until_close) == (
        OUT_RAW,
        False,
        True,
    )
    assert until_close.event_stream
    assert b"Connection: close\r\n" in until_close.data
    head = build_response_head(
        200, b"OK", [(b"Content-Length", b"42")], head_request=True, client_11=True, keep_alive=True
    )
    assert head.out == OUT_NONE
    assert b"Content-Length: 42\r\n" in head.data
    with pytest.raises(ValueError, match="coding"):
        build_response_head(
            200, b"OK", [(b"Transfer-Encoding", b"gzip")],
            head_request=False, client_11=True, keep_alive=True,
        )  # fmt: skip


def test_balancer_round_robin_health_and_recovery() -> None:
    table, registry = _table(("1", "a.test", "/", [1, 2, 3]))
    route = table.lookup(b"a.test", b"/")
    assert route is not None
    balancer = Balancer(fail_timeout=1.0, max_fail_timeout=4.0)
    picks = [balancer.pick(route, [], 0.0) for _ in range(6)]
    assert [p.port for p in picks if p] == [1, 2, 3, 1, 2, 3]
    one, two, three = route.upstreams
    balancer.failed(two, now=10.0)
    assert {balancer.pick(route, [], 10.5).port for _ in range(6)} == {1, 3}  # type: ignore[union-attr]
    # Retrying never offers an upstream already tried; all down -> the one back first.
    assert balancer.pick(route, [one, three], 10.5) is two
    balancer.failed(two, now=11.5)  # consecutive failure: window doubles
    assert two.down_until == pytest.approx(13.5)
    for _ in range(5):
        balancer.failed(two, now=20.0)
    assert two.down_until == pytest.approx(24.0)  # capped
    assert 2 in {balancer.pick(route, [], 24.0).port for _ in range(3)}  # type: ignore[union-attr]
    Balancer.succeeded(two)
    assert (two.fails, two.down_until) == (0, 0.0)
    assert len(registry) == 3


def test_proxy_process_imports_stay_small() -> None:
    # The proxy must start fast and stay small: no web framework, ORM or Kubernetes client.
    import subprocess
    import sys

    code = (
        "import sys, meshploy_proxy.__main__, meshploy_proxy.supervisor, meshploy_proxy.worker;"
        "print(','.join(m for m in ('quart', 'sqlalchemy', 'kubernetes', 'alembic')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"the proxy imported {out.stdout.strip()}"


def test_splice_setting_parses_and_rejects_nonsense() -> None:
    from meshploy_proxy.config import load_config

    from meshploy_core.errors import ConfigError
    from meshploy_core.settings import Settings

    settings = Settings(database_url="postgresql+asyncpg://u@localhost/db")
    assert load_config(settings, {}).splice is True
    assert load_config(settings, {"MESHPLOY_PROXY_SPLICE": "false"}).splice is False
    assert load_config(settings, {"MESHPLOY_PROXY_SPLICE": "off"}, splice=True).splice is True
    with pytest.raises(ConfigError, match="MESHPLOY_PROXY_SPLICE"):
        load_config(settings, {"MESHPLOY_PROXY_SPLICE": "sometimes"})


def test_pipe_pool_reuses_empty_pipes_and_closes_dirty_ones() -> None:
    import fcntl
    import os

    from meshploy_proxy.splice import PipePool

    pool = PipePool(keep=1)
    first = pool.acquire()
    second = pool.acquire()
    assert first is not None and second is not None and first != second
    assert pool.capacity >= 64 * 1024
    for fd in first:
        assert fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK
    os.write(second[1], b"left over")
    pool.release(second, empty=False)  # holds bytes: closed, never handed out again
    for fd in second:
        with pytest.raises(OSError):
            os.fstat(fd)
    pool.release(first, empty=True)
    assert pool.acquire() == first  # reused
    pool.release(first, empty=True)
    third = pool.acquire()
    assert third is not None
    fourth = pool.acquire()
    assert fourth is not None
    pool.release(third, empty=True)
    pool.release(fourth, empty=True)  # beyond keep=1: closed
    for fd in fourth:
        with pytest.raises(OSError):
            os.fstat(fd)
    pool.close()
    for fd in third:
        with pytest.raises(OSError):
            os.fstat(fd)


@pytest.mark.parametrize(
    ("connect_failure", "pooled", "replayable", "attempts", "want"),
    [
        # Nothing was sent: the next upstream, while attempts last, whatever the request.
        (True, False, False, 1, "next upstream"),
        (True, False, True, 3, "error page"),
        # A stale pooled connection: once more on a fresh one, or a page saying why not.
        (False, True, True, 1, "fresh connection"),
        (False, True, True, 3, "fresh connection"),
        (False, True, False, 1, "not retried"),
        # A fresh connection failed: the upstream's fault; the next one if safe.
        (False, False, True, 1, "next upstream"),
        (False, False, True, 3, "error page"),
        (False, False, False, 1, "error page"),
    ],
)
def test_retry_policy_after_a_failure_before_the_response_head(
    connect_failure: bool, pooled: bool, replayable: bool, attempts: int, want: str
) -> None:
    from meshploy_proxy.retry import after_failure

    step = after_failure(
        connect_failure=connect_failure,
        pooled=pooled,
        replayable=replayable,
        attempts=attempts,
        max_attempts=3,
    )
    assert step.value == want


def test_only_idempotent_requests_with_their_whole_body_are_replayable() -> None:
    from meshploy_proxy.retry import REPLAY_LIMIT, KeptBody, not_retried_message, replayable

    for method in (b"GET", b"HEAD", b"OPTIONS", b"TRACE", b"PUT", b"DELETE"):
        assert replayable(method, has_body=False, body_kept=False)
        assert replayable(method, has_body=True, body_kept=True)
        assert not replayable(method, has_body=True, body_kept=False)
    for method in (b"POST", b"PATCH", b"LOCK"):
        assert not replayable(method, has_body=False, body_kept=False)
        assert not replayable(method, has_body=True, body_kept=True)
    kept = KeptBody()
    assert kept.add(b"x" * (REPLAY_LIMIT - 1)) and kept.add(b"y")
    assert kept.size == REPLAY_LIMIT and b"".join(kept.chunks) == b"x" * (REPLAY_LIMIT - 1) + b"y"
    assert not kept.add(b"z")  # one byte over: nothing kept
    assert kept.chunks == []
    assert "not idempotent" in not_retried_message(b"POST")
    assert "too large" in not_retried_message(b"PUT")
