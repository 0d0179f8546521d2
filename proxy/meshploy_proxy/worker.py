"""One worker process: its own listening socket on the shared port, route table and loop.

This is the serving side; the process that starts and restarts workers is
:mod:`meshploy_proxy.supervisor`.

Workers bind the proxy port with ``SO_REUSEPORT``, so the kernel spreads new connections over
them and each runs a single-threaded uvloop with no shared state: one per core scales without
locks. A worker talks to the supervisor over an inherited Unix socket (one JSON object per
line): it says ``ready`` once its route table loaded and answers ``stats`` requests with a
metrics snapshot. If that socket closes (the supervisor died) the worker shuts down too.

Run by the supervisor as ``python -m meshploy_proxy.worker --index N --control-fd FD`` with
the config in ``MESHPLOY_PROXY_WORKER_CONFIG``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import os
import signal
import socket
import time
from typing import Any

from meshploy_proxy.config import EXIT_BIND_FAILED, WORKER_CONFIG_ENV, ProxyConfig
from meshploy_proxy.context import ProxyContext
from meshploy_proxy.metrics import route_table_age
from meshploy_proxy.routesync import RouteSync
from meshploy_proxy.server import ClientConnection

log = logging.getLogger(__name__)

SWEEP_INTERVAL = 0.5


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket with SO_REUSEPORT, shared with the other workers."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(4096)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class Worker:
    """Serves the proxy port until told to stop, then drains."""

    def __init__(self, config: ProxyConfig, index: int = 0, control: socket.socket | None = None):
        self.config = config
        self.index = index
        self.control = control
        self.ctx: ProxyContext | None = None
        self.sync: RouteSync | None = None
        self._stop = asyncio.Event()
        self._writer: asyncio.StreamWriter | None = None
        self._ready_sent = False

    def stop(self) -> None:
        """Begin a graceful shutdown."""
        self._stop.set()

    def snapshot(self) -> dict[str, Any]:
        """The worker's metrics snapshot (counters and gauges)."""
        ctx = self.ctx
        assert ctx is not None
        now = ctx.loop.time()
        router = ctx.router
        return ctx.metrics.snapshot(
            routes=len(router.table),
            route_table_age_seconds=route_table_age(router.synced_at),
            database_connected=1.0 if self.sync is not None and self.sync.connected else 0.0,
            connections_open=len(ctx.clients),
            upstreams=len(ctx.registry),
            upstreams_down=sum(1 for up in ctx.registry if up.down_until > now),
            ready=1.0 if router.loaded else 0.0,
            pid=os.getpid(),
        )

    def _loaded(self) -> None:
        # Long-lived route objects need no cyclic-GC scans: keep them out of collections.
        gc.collect()
        gc.freeze()
        if not self._ready_sent and self._writer is not None:
            self._ready_sent = True
            self._send({"op": "ready", "pid": os.getpid()})

    def _send(self, message: dict[str, Any]) -> None:
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(json.dumps(message).encode() + b"\n")

    async def _control_loop(self) -> None:
        assert self.control is not None
        reader, self._writer = await asyncio.open_unix_connection(sock=self.control)
        if self.ctx is not None and self.ctx.router.loaded and not self._ready_sent:
            self._ready_sent = True
            self._send({"op": "ready", "pid": os.getpid()})
        while True:
            line = await reader.readline()
            if not line:
                log.warning("supervisor went away; shutting down")
                self.stop()
                return
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if message.get("op") == "stats":
                self._send({"op": "stats", "id": message.get("id"), "data": self.snapshot()})

    async def _sweep(self) -> None:
        ctx = self.ctx
        assert ctx is not None
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            now = ctx.loop.time()
            for client in [c for c in ctx.clients if c.deadline < now]:
                client.on_timeout()
            ctx.registry.sweep(now - self.config.upstream_idle_timeout)
            ctx.access_log.flush()

    async def run(self) -> int:
        """Serve until :meth:`stop` (or SIGTERM/SIGINT); returns the process exit code."""
        loop = asyncio.get_running_loop()
        config = self.config
        ctx = self.ctx = ProxyContext(config, loop, worker=self.index)
        try:
            sock = bind_socket(config.host, config.port)
        except OSError as exc:
            log.error("cannot listen on %s:%d: %s", config.host, config.port, exc)
            return EXIT_BIND_FAILED
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)
        server = await loop.create_server(lambda: ClientConnection(ctx), sock=sock)
        self.sync = RouteSync(
            config.dsn,
            ctx.router,
            ctx.registry,
            resync_interval=config.resync_interval,
            on_loaded=self._loaded,
        )
        tasks = [loop.create_task(self.sync.run()), loop.create_task(self._sweep())]
        if self.control is not None:
            tasks.append(loop.create_task(self._control_loop()))
        log.info("worker %d listening on %s:%d", self.index, config.host, config.port)
        try:
            await self._stop.wait()
            await self._drain(server)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            ctx.access_log.flush()
        return 0

    async def _drain(self, server: asyncio.AbstractServer) -> None:
        ctx = self.ctx
        assert ctx is not None
        ctx.draining = True
        server.close()
        for client in list(ctx.clients):
            client.drain()
        deadline = time.monotonic() + self.config.grace
        while ctx.clients and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            for client in list(ctx.clients):
                if client.active is None and client.tunnel is None:
                    client.close()
        for client in list(ctx.clients):
            client.abort()
        for up in ctx.registry:
            up.close_idle(float("inf"))
        ctx.pipes.close()
        log.info("worker %d stopped", self.index)


def main(argv: list[str] | None = None) -> None:
    """Entry point of a worker process (started by the supervisor)."""
    import uvloop

    from meshploy_core.logs import configure_logging

    parser = argparse.ArgumentParser(prog="meshploy_proxy.worker")
    parser.add_argument("--index", type=int, default=0)
    parser.add_argument("--control-fd", type=int, default=-1)
    args = parser.parse_args(argv)
    config = ProxyConfig.from_json(os.environ[WORKER_CONFIG_ENV])
    configure_logging(config.log_level)
    control = socket.socket(fileno=args.control_fd) if args.control_fd >= 0 else None
    worker = Worker(config, args.index, control)
    profiler = None
    if config.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    code = uvloop.run(worker.run())
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(f"{config.profile}.{args.index}")
    raise SystemExit(code)


if __name__ == "__main__":
    main()
