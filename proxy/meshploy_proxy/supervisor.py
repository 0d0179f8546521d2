"""The supervisor: starts the worker processes, restarts crashed ones, serves the admin port.

``meshploy proxy`` runs this. It never touches proxied traffic: the workers share the proxy
port through ``SO_REUSEPORT``. On SIGTERM or SIGINT it stops reporting ready, asks every
worker to drain (in-flight requests finish, up to the grace period), and exits once they have.
A worker that dies unexpectedly is restarted with a capped backoff; one that cannot bind the
port stops the whole proxy with an error, since restarting would not help.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import resource
import signal
import socket
import sys
import time
from typing import Any

from meshploy_proxy.admin import AdminServer
from meshploy_proxy.config import EXIT_BIND_FAILED, WORKER_CONFIG_ENV, ProxyConfig

log = logging.getLogger(__name__)

#: glibc malloc settings for workers (unless the operator set GLIBC_TUNABLES): reads of up
#: to 256 KiB become bytes objects, and with the defaults glibc hands that memory back to the
#: kernel after nearly every response, so the next one page-faults it in again (measured: a
#: quarter of a worker's CPU at 1 MiB responses). Keeping up to 4 MiB of free heap per
#: worker, and serving buffers under 1 MiB from the heap, avoids that.
MALLOC_TUNABLES = (
    "glibc.malloc.trim_threshold=4194304:glibc.malloc.top_pad=1048576:"
    "glibc.malloc.mmap_threshold=1048576"
)


def raise_open_files_limit() -> tuple[int, int]:
    """Raise this process's soft limit on open files to its hard limit; return (soft, hard).

    Every client connection, upstream connection and splice relay holds descriptors, and the
    usual soft limit (1024 under systemd) would cap a worker at a few hundred clients. Workers
    inherit the raised limit.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft == resource.RLIM_INFINITY or soft >= target:
        return soft, hard
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (OSError, ValueError) as exc:
        log.warning("cannot raise the open-files limit from %d to %d: %s", soft, target, exc)
        return soft, hard
    return target, hard


class WorkerHandle:
    """The supervisor's view of one worker process."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.proc: asyncio.subprocess.Process | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.ready = False
        self.started_at = 0.0
        self.restarts = 0
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}

    @property
    def alive(self) -> bool:
        """Whether the process is running."""
        return self.proc is not None and self.proc.returncode is None

    def to_json(self) -> dict[str, Any]:
        """For /readyz and /healthz."""
        return {
            "index": self.index,
            "pid": self.proc.pid if self.proc is not None else None,
            "alive": self.alive,
            "ready": self.ready,
            "restarts": self.restarts,
        }


class Supervisor:
    """Runs ``config.workers`` worker processes and the admin server."""

    def __init__(self, config: ProxyConfig) -> None:
        self.config = config
        self.handles = [WorkerHandle(i) for i in range(config.workers)]
        self.stopping = False
        self._stopped = asyncio.Event()
        self._exit_code = 0
        self._ids = itertools.count(1)
        self.restarts_total = 0

    @property
    def ready(self) -> bool:
        """All workers are up with a loaded route table, and we are not shutting down."""
        return not self.stopping and all(h.alive and h.ready for h in self.handles)

    def status(self) -> dict[str, Any]:
        """Readiness details."""
        return {
            "ready": self.ready,
            "draining": self.stopping,
            "workers": [h.to_json() for h in self.handles],
        }

    def stop(self, code: int = 0) -> None:
        """Begin shutting down; ``run`` returns ``code``."""
        if not self.stopping:
            self._exit_code = code
        self.stopping = True
        self._stopped.set()

    async def run(self) -> int:
        """Run until signalled; returns the exit code."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)
        soft, _ = raise_open_files_limit()
        if soft != resource.RLIM_INFINITY and soft < 4096:
            log.warning(
                "open-files limit is %d: each worker can hold only about %d connections; "
                "raise it (LimitNOFILE= in systemd, ulimit -Hn)",
                soft,
                soft // 3,
            )
        admin = AdminServer(self, self.config.admin_host, self.config.admin_port)
        await admin.start()
        monitors = [loop.create_task(self._keep_running(h)) for h in self.handles]
        log.info(
            "proxy on %s:%d with %d workers; admin on %s:%d",
            self.config.host,
            self.config.port,
            len(self.handles),
            self.config.admin_host,
            self.config.admin_port,
        )
        await self._stopped.wait()
        await self._shutdown()
        for task in monitors:
            task.cancel()
        for task in monitors:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await admin.close()
        return self._exit_code

    async def _keep_running(self, handle: WorkerHandle) -> None:
        backoff = 0.5
        while not self.stopping:
            await self._spawn(handle)
            assert handle.proc is not None
            code = await handle.proc.wait()
            handle.ready = False
            if self.stopping:
                return
            if code == EXIT_BIND_FAILED:
                log.error("worker %d could not listen on the proxy port; stopping", handle.index)
                self.stop(1)
                return
            if time.monotonic() - handle.started_at > 60:
                backoff = 0.5
            log.error("worker %d exited with %s; restarting in %.1fs", handle.index, code, backoff)
            handle.restarts += 1
            self.restarts_total += 1
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10.0)

    async def _spawn(self, handle: WorkerHandle) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        env = {**os.environ, WORKER_CONFIG_ENV: self.config.to_json()}
        env.setdefault("GLIBC_TUNABLES", MALLOC_TUNABLES)
        try:
            handle.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "meshploy_proxy.worker",
                "--index",
                str(handle.index),
                "--control-fd",
                str(child.fileno()),
                pass_fds=(child.fileno(),),
                env=env,
            )
        finally:
            child.close()
        handle.started_at = time.monotonic()
        reader, handle.writer = await asyncio.open_unix_connection(sock=parent)
        asyncio.get_running_loop().create_task(self._read_control(handle, reader))

    async def _read_control(self, handle: WorkerHandle, reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(ConnectionError):
            while True:
                line = await reader.readline()
                if not line:
                    break
                try:
                    message = json.loads(line)
                except ValueError:
                    continue
                op = message.get("op")
                if op == "ready":
                    handle.ready = True
                elif op == "stats":
                    future = handle.pending.pop(message.get("id"), None)
                    if future is not None and not future.done():
                        future.set_result(message.get("data") or {})
        handle.ready = False
        for future in handle.pending.values():
            if not future.done():
                future.cancel()
        handle.pending.clear()

    async def stats(self, wait: float = 2.0) -> dict[int, dict[str, Any]]:
        """A metrics snapshot from every live worker (index -> snapshot)."""
        loop = asyncio.get_running_loop()
        waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        for handle in self.handles:
            if not handle.alive or handle.writer is None or handle.writer.is_closing():
                continue
            request_id = next(self._ids)
            future: asyncio.Future[dict[str, Any]] = loop.create_future()
            handle.pending[request_id] = future
            handle.writer.write(json.dumps({"op": "stats", "id": request_id}).encode() + b"\n")
            waiting[handle.index] = future
        if waiting:
            await asyncio.wait(waiting.values(), timeout=wait)
        return {
            index: f.result()
            for index, f in waiting.items()
            if f.done() and not f.cancelled() and f.exception() is None
        }

    async def _shutdown(self) -> None:
        procs = [h.proc for h in self.handles if h.proc is not None and h.alive]
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        if not procs:
            return
        _done, pending = await asyncio.wait(
            [asyncio.ensure_future(p.wait()) for p in procs], timeout=self.config.grace + 5
        )
        for proc in procs:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
        if pending:
            await asyncio.wait(pending, timeout=5)
