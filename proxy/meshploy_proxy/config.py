"""The proxy's configuration: shared settings plus the knobs only the proxy has.

Ports and the database come from :mod:`meshploy_core.settings` (``MESHPLOY_PROXY_PORT``,
``MESHPLOY_PROXY_ADMIN_PORT``, ``DATABASE_URL``). The proxy-only variables below are read here
so the proxy stays a self-contained package; command-line flags override both.

=================================  =============================================================
``MESHPLOY_PROXY_HOST``            address to listen on (default ``127.0.0.1``)
``MESHPLOY_PROXY_ADMIN_HOST``      address of the admin port (default ``127.0.0.1``)
``MESHPLOY_PROXY_WORKERS``         worker processes sharing the port (default: one per core)
``MESHPLOY_PROXY_TRUSTED_PROXIES`` peers whose X-Forwarded-* headers are kept and extended
                                   (comma-separated CIDRs, default loopback: Caddy)
``MESHPLOY_PROXY_ACCESS_LOG``      ``true``/``false``: JSON access log on stdout (default true)
``MESHPLOY_PROXY_SPLICE``          ``true``/``false``: move large response bodies with
                                   ``splice(2)``, without copying them (default true on Linux)
=================================  =============================================================
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from meshploy_core.errors import ConfigError
from meshploy_core.settings import Settings, parse_bool

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_TRUSTED = ("127.0.0.0/8", "::1/128")
#: How the supervisor hands the config to a worker process.
WORKER_CONFIG_ENV = "MESHPLOY_PROXY_WORKER_CONFIG"
#: A worker's exit code when it cannot listen on the proxy port (restarting would not help).
EXIT_BIND_FAILED = 3


@dataclass(frozen=True)
class ProxyConfig:
    """Everything a proxy worker needs; JSON-serialisable so the supervisor can hand it over."""

    dsn: str
    host: str = "127.0.0.1"
    port: int = 8081
    admin_host: str = "127.0.0.1"
    admin_port: int = 9091
    workers: int = 1
    access_log: bool = True
    #: Relay Content-Length bodies of 64 KiB and more with splice(2) (zero-copy).
    splice: bool = True
    log_level: str = "INFO"
    trusted_proxies: tuple[str, ...] = DEFAULT_TRUSTED
    #: Seconds to open a TCP connection to an upstream (then 504, or the next upstream).
    connect_timeout: float = 5.0
    #: Seconds to wait for response headers, and between body bytes in either direction.
    read_timeout: float = 60.0
    #: Idle seconds allowed on WebSocket/Upgrade tunnels and server-sent event streams.
    stream_idle_timeout: float = 3600.0
    #: Seconds a client has to send a complete request head.
    header_timeout: float = 15.0
    #: Seconds an idle client keep-alive connection stays open.
    keepalive_timeout: float = 75.0
    #: Seconds an idle pooled upstream connection is kept (below common servers' 5 s).
    upstream_idle_timeout: float = 4.0
    #: Idle connections kept per upstream address.
    upstream_max_idle: int = 128
    #: First and longest time a failing upstream is taken out of rotation (doubling between).
    fail_timeout: float = 2.0
    max_fail_timeout: float = 30.0
    #: Attempts per request across a route's upstreams (when retrying is safe).
    max_attempts: int = 3
    #: Full route resync (fingerprint check, reload on mismatch) interval, seconds.
    resync_interval: float = 30.0
    #: Request head limits: whole head bytes and header count (431 beyond), URL bytes (414).
    max_head_bytes: int = 32 * 1024
    max_headers: int = 100
    max_url_bytes: int = 8 * 1024
    #: Seconds in-flight requests get to finish on shutdown.
    grace: float = 30.0
    #: Write a cProfile of each worker here on exit (``<path>.<index>``); for benchmarking.
    profile: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def networks(self) -> tuple[Network, ...]:
        """The trusted proxies as network objects."""
        return tuple(ipaddress.ip_network(n, strict=False) for n in self.trusted_proxies)

    def to_json(self) -> str:
        """Serialise for a worker process."""
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ProxyConfig:
        """The inverse of :meth:`to_json`."""
        data = json.loads(text)
        data["trusted_proxies"] = tuple(data["trusted_proxies"])
        return cls(**data)


def asyncpg_dsn(database_url: str) -> str:
    """Turn the SQLAlchemy-style URL from settings into the plain DSN asyncpg takes."""
    return re.sub(r"^postgres(ql)?(\+asyncpg)?://", "postgresql://", database_url)


def _parse_networks(name: str, raw: str) -> tuple[str, ...]:
    out = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        try:
            out.append(str(ipaddress.ip_network(part, strict=False)))
        except ValueError:
            raise ConfigError(
                f"{name} must be comma-separated IP addresses or CIDR networks like "
                f"127.0.0.1/32,10.0.0.0/8; got {part!r}"
            ) from None
    return tuple(out)


def _parse_workers(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number 1-256; got {raw!r}") from None
    if not 1 <= value <= 256:
        raise ConfigError(f"{name} must be a whole number 1-256; got {value}")
    return value


def default_workers() -> int:
    """One worker per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def load_config(
    settings: Settings, environ: Mapping[str, str] | None = None, **overrides: Any
) -> ProxyConfig:
    """Build the proxy config from settings, ``MESHPLOY_PROXY_*`` variables and overrides.

    ``overrides`` whose value is None are ignored, so command-line options can be passed
    straight through. Raises :class:`ConfigError` when ``DATABASE_URL`` is missing.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {
        "dsn": asyncpg_dsn(settings.require_database_url()),
        "port": settings.proxy_port,
        "admin_port": settings.proxy_admin_port,
        "log_level": settings.log_level,
        "workers": default_workers(),
    }
    if env.get("MESHPLOY_PROXY_HOST", "").strip():
        values["host"] = env["MESHPLOY_PROXY_HOST"].strip()
    if env.get("MESHPLOY_PROXY_ADMIN_HOST", "").strip():
        values["admin_host"] = env["MESHPLOY_PROXY_ADMIN_HOST"].strip()
    if env.get("MESHPLOY_PROXY_WORKERS", "").strip():
        values["workers"] = _parse_workers("MESHPLOY_PROXY_WORKERS", env["MESHPLOY_PROXY_WORKERS"])
    if "MESHPLOY_PROXY_TRUSTED_PROXIES" in env:
        values["trusted_proxies"] = _parse_networks(
            "MESHPLOY_PROXY_TRUSTED_PROXIES", env["MESHPLOY_PROXY_TRUSTED_PROXIES"]
        )
    if env.get("MESHPLOY_PROXY_ACCESS_LOG", "").strip():
        values["access_log"] = parse_bool(
            "MESHPLOY_PROXY_ACCESS_LOG", env["MESHPLOY_PROXY_ACCESS_LOG"]
        )
    if env.get("MESHPLOY_PROXY_SPLICE", "").strip():
        values["splice"] = parse_bool("MESHPLOY_PROXY_SPLICE", env["MESHPLOY_PROXY_SPLICE"])
    values.update({k: v for k, v in overrides.items() if v is not None})
    if "trusted_proxies" in overrides and isinstance(overrides["trusted_proxies"], str):
        values["trusted_proxies"] = _parse_networks(
            "--trusted-proxies", overrides["trusted_proxies"]
        )
    return ProxyConfig(**values)
