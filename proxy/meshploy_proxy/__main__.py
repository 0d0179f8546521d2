"""``python -m meshploy_proxy``: the edge proxy (what ``meshploy proxy`` runs).

Runs in a fresh interpreter on purpose: the proxy imports only its own modules,
``meshploy_core.settings``/``logs``/``errors``, asyncpg, uvloop, httptools and prometheus-client,
so it starts fast and stays small (no Quart, SQLAlchemy or Kubernetes client).
"""

from __future__ import annotations

import argparse
import sys

from meshploy_core.errors import MeshployError


def build_parser() -> argparse.ArgumentParser:
    """The command-line options (shared with ``meshploy proxy``)."""
    p = argparse.ArgumentParser(
        prog="meshploy proxy",
        description="Run the edge proxy: Host-based routing to the mesh, routes from PostgreSQL.",
    )
    p.add_argument("--host", help="address to listen on (MESHPLOY_PROXY_HOST, 127.0.0.1)")
    p.add_argument("--port", type=int, help="proxy port (MESHPLOY_PROXY_PORT, 8081)")
    p.add_argument("--admin-host", help="admin address (MESHPLOY_PROXY_ADMIN_HOST, 127.0.0.1)")
    p.add_argument("--admin-port", type=int, help="admin port (MESHPLOY_PROXY_ADMIN_PORT, 9091)")
    p.add_argument("--workers", type=int, help="worker processes (MESHPLOY_PROXY_WORKERS, cores)")
    p.add_argument(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="JSON access log on stdout (MESHPLOY_PROXY_ACCESS_LOG, on)",
    )
    p.add_argument(
        "--splice",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="zero-copy relay of large response bodies (MESHPLOY_PROXY_SPLICE, on)",
    )
    p.add_argument("--trusted-proxies", help="CIDRs whose X-Forwarded-* are kept (loopback)")
    p.add_argument("--connect-timeout", type=float, help="upstream connect timeout, s (5)")
    p.add_argument("--read-timeout", type=float, help="upstream read/idle timeout, s (60)")
    p.add_argument("--stream-idle-timeout", type=float, help="WebSocket/SSE idle timeout (3600)")
    p.add_argument("--fail-timeout", type=float, help="first out-of-rotation window, s (2)")
    p.add_argument("--max-fail-timeout", type=float, help="longest out-of-rotation window (30)")
    p.add_argument("--resync-interval", type=float, help="full route resync interval, s (30)")
    p.add_argument("--grace", type=float, help="seconds in-flight requests get on shutdown (30)")
    p.add_argument("--profile", help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> None:
    """Parse options, load settings and run the supervisor until signalled."""
    import uvloop

    from meshploy_core.logs import configure_logging
    from meshploy_core.settings import load_settings
    from meshploy_proxy.config import load_config
    from meshploy_proxy.supervisor import Supervisor

    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        config = load_config(
            settings,
            host=args.host,
            port=args.port,
            admin_host=args.admin_host,
            admin_port=args.admin_port,
            workers=args.workers,
            access_log=args.access_log,
            splice=args.splice,
            trusted_proxies=args.trusted_proxies,
            connect_timeout=args.connect_timeout,
            read_timeout=args.read_timeout,
            stream_idle_timeout=args.stream_idle_timeout,
            fail_timeout=args.fail_timeout,
            max_fail_timeout=args.max_fail_timeout,
            resync_interval=args.resync_interval,
            grace=args.grace,
            profile=args.profile,
        )
    except MeshployError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    configure_logging(config.log_level)
    try:
        code = uvloop.run(Supervisor(config).run())
    except OSError as exc:  # the admin port is taken, most likely
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    raise SystemExit(code)


if __name__ == "__main__":
    main()
