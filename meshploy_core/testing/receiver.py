"""A real local HTTP server that records what it receives (for notifier tests).

It runs in a thread on loopback; ``fail_next(n, status)`` makes it answer the next ``n``
requests with an error, to exercise retries.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class ReceivedRequest:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HttpReceiver:
    """Records requests; answers 204, or the queued failure statuses first."""

    requests: list[ReceivedRequest] = field(default_factory=list)
    _failures: list[int] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL of the running server."""
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def fail_next(self, count: int, status: int = 503) -> None:
        """Answer the next ``count`` requests with ``status``."""
        with self._lock:
            self._failures.extend([status] * count)

    def start(self) -> HttpReceiver:
        """Start serving on a free loopback port."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.requests.append(
                        ReceivedRequest("POST", self.path, dict(self.headers.items()), body)
                    )
                    status = receiver._failures.pop(0) if receiver._failures else 204
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the server and wait for its thread."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def wait_for(
        self, predicate: Callable[[list[ReceivedRequest]], bool], timeout: float = 10.0
    ) -> list[ReceivedRequest]:
        """Poll (no fixed sleep) until ``predicate(requests)`` holds or fail with what arrived.

        This blocks the calling thread: when the sender runs on the test's own event loop
        (a worker task), poll ``receiver.requests`` with ``await eventually(...)`` instead.
        """
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                snapshot = list(self.requests)
            if predicate(snapshot):
                return snapshot
            if time.monotonic() > deadline:
                raise AssertionError(f"receiver condition not met in {timeout}s; got {snapshot}")
            time.sleep(0.01)
