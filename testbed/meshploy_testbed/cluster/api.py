"""A minimal JSON client for the dev cluster's API server, used by the launcher itself.

The launcher only needs a handful of calls (health, nodes, pods); a few lines over
``http.client`` keep ``meshploy dev cluster up`` fast to import and independent of the
generated ``kubernetes`` client. Application code talks to Kubernetes through the adapter.
"""

from __future__ import annotations

import http.client
import json
import ssl
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

from meshploy_testbed.cluster.binaries import DevClusterError
from meshploy_testbed.cluster.pki import CertPair

T = TypeVar("T")

JSON_MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"


class ApiStatusError(DevClusterError):
    """The API server answered with an error status."""

    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        super().__init__(f"{method} {path}: HTTP {status}: {body[:300]}")
        self.status = status


class KubeApi:
    """Authenticated JSON requests to one API server over TLS."""

    def __init__(self, server: str, ca_cert: str, client: CertPair, timeout: float = 10.0) -> None:
        parts = urlsplit(server)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 443
        self._timeout = timeout
        self._ssl = ssl.create_default_context(cafile=ca_cert)
        self._ssl.load_cert_chain(str(client.cert_path), str(client.key_path))

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        content_type: str = "application/json",
        query: dict[str, str] | None = None,
    ) -> Any:
        """Send one request and return the decoded JSON (or text) answer.

        Raises :class:`ApiStatusError` for a status of 400 or more.
        """
        if query:
            path = f"{path}?{urlencode(query)}"
        conn = http.client.HTTPSConnection(
            self._host, self._port, timeout=self._timeout, context=self._ssl
        )
        try:
            headers = {"Accept": "application/json"}
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                headers["Content-Type"] = content_type
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read().decode("utf-8", "replace")
        finally:
            conn.close()
        if resp.status >= 400:
            raise ApiStatusError(method, path, resp.status, raw)
        try:
            return json.loads(raw)
        except ValueError:
            return raw

    def get(self, path: str, query: dict[str, str] | None = None) -> Any:
        """GET ``path``."""
        return self.request("GET", path, query=query)

    def post(self, path: str, body: Any) -> Any:
        """POST ``body`` to ``path``."""
        return self.request("POST", path, body)

    def patch(self, path: str, body: Any, content_type: str = STRATEGIC_MERGE_PATCH) -> Any:
        """PATCH ``path`` with ``body`` (strategic merge by default)."""
        return self.request("PATCH", path, body, content_type)


def poll_until(
    probe: Callable[[], T | None],
    timeout: float,
    what: str,
    interval: float = 0.2,
    check: Callable[[], None] | None = None,
) -> T:
    """Call ``probe`` until it returns something other than ``None``/``False``; return that.

    Exceptions from ``probe`` count as "not yet" (the last one is reported on timeout);
    ``check`` runs each round and may raise to abort early (e.g. a process died).
    """
    deadline = time.monotonic() + timeout
    last: str = "no answer yet"
    while True:
        if check is not None:
            check()
        try:
            value = probe()
        except (OSError, DevClusterError, ValueError) as exc:
            last = f"{type(exc).__name__}: {exc}"
        else:
            if value is not None and value is not False:
                return value
            last = f"got {value!r}"
        if time.monotonic() >= deadline:
            raise DevClusterError(f"timed out after {timeout:.0f}s waiting for {what} ({last})")
        time.sleep(interval)
