"""Everything a worker's connections share: config, route table, upstreams, metrics, logs."""

from __future__ import annotations

import asyncio
import ipaddress
import os
from typing import TYPE_CHECKING

from meshploy_proxy.accesslog import AccessLog
from meshploy_proxy.balancer import Balancer
from meshploy_proxy.config import ProxyConfig
from meshploy_proxy.metrics import WorkerMetrics
from meshploy_proxy.routes import Router
from meshploy_proxy.splice import AVAILABLE as SPLICE_AVAILABLE
from meshploy_proxy.splice import PipePool
from meshploy_proxy.upstream import UpstreamRegistry

if TYPE_CHECKING:
    from meshploy_proxy.server import ClientConnection


class ProxyContext:
    """One per worker process; every protocol object holds a reference to it."""

    def __init__(
        self,
        config: ProxyConfig,
        loop: asyncio.AbstractEventLoop,
        *,
        worker: int = 0,
        log_fd: int = 1,
    ) -> None:
        self.config = config
        self.loop = loop
        self.worker = worker
        self.router = Router()
        self.registry = UpstreamRegistry()
        self.balancer = Balancer(config.fail_timeout, config.max_fail_timeout)
        self.metrics = WorkerMetrics()
        self.access_log = AccessLog(log_fd, enabled=config.access_log, worker=worker)
        self.clients: set[ClientConnection] = set()
        self.draining = False
        # Copied out of the config: attribute lookups on the hot path stay one level deep.
        self.connect_timeout = config.connect_timeout
        self.read_timeout = config.read_timeout
        self.stream_idle_timeout = config.stream_idle_timeout
        self.header_timeout = config.header_timeout
        self.keepalive_timeout = config.keepalive_timeout
        self.max_attempts = config.max_attempts
        self.max_idle = config.upstream_max_idle
        self.max_head_bytes = config.max_head_bytes
        self.max_headers = config.max_headers
        self.max_url_bytes = config.max_url_bytes
        #: Large Content-Length bodies go upstream socket -> pipe -> client socket in the kernel.
        self.splice = config.splice and SPLICE_AVAILABLE
        self.pipes = PipePool()
        self._networks = config.networks()
        self._trust: dict[str, bool] = {}
        # Request ids: a random per-worker prefix and a counter, unique without a syscall.
        self._rid_prefix = os.urandom(5).hex().encode() + b"-"
        self._rid_counter = 0

    def trusted(self, ip: str) -> bool:
        """Whether ``ip`` is a trusted proxy (its X-Forwarded-* headers are kept)."""
        known = self._trust.get(ip)
        if known is None:
            try:
                addr = ipaddress.ip_address(ip)
            except ValueError:
                known = False
            else:
                known = any(addr in net for net in self._networks)
            if len(self._trust) > 10000:
                self._trust.clear()
            self._trust[ip] = known
        return known

    def new_request_id(self) -> bytes:
        """A request id unique across workers and restarts (random prefix + counter)."""
        self._rid_counter += 1
        return self._rid_prefix + b"%x" % self._rid_counter
