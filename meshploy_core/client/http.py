"""The API client: an httpx ``AsyncClient`` that speaks the operation table.

``await client.call("create_project", {"name": "Web"})`` or, typed,
``await client.create_project(name="Web")``. Arguments are given by name; the table says
which go into the path, the query string or the JSON body. ``org_id`` defaults to the
client's organization. Errors raise :class:`ApiError` with the API's problem details;
a transport failure raises :class:`ApiUnreachable`. The token is sent only in the
``Authorization`` header and never appears in an error.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from meshploy_core import __version__
from meshploy_core.client.errors import ApiError, ApiUnreachable, NotConfigured
from meshploy_core.client.methods import OperationMethods
from meshploy_core.client.operations import BY_ID
from meshploy_core.client.spec import Operation, Unset

DEFAULT_TIMEOUT = 30.0
#: Extra time on top of a long poll's ``wait`` before the request itself times out.
LONG_POLL_MARGIN = 15.0


def operation(operation_id: str) -> Operation:
    """The table entry for ``operation_id``; KeyError if the API has no such operation."""
    return BY_ID[operation_id]


def normalize_base_url(url: str) -> str:
    """``https://host/`` or ``https://host/api/v1`` -> ``https://host``."""
    text = url.strip().rstrip("/")
    text = text.removesuffix("/api/v1")
    if not text.startswith(("http://", "https://")):
        raise NotConfigured(f"the API URL must start with http:// or https://; got {url!r}")
    return text


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class ApiClient(OperationMethods):
    """An async client of one Meshploy API, optionally authenticated and bound to an org."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        org_id: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = normalize_base_url(base_url)
        self.org_id = org_id
        self.timeout = timeout
        headers = {"User-Agent": f"meshploy-client/{__version__}", "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.AsyncClient(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    def build(self, op: Operation, args: Mapping[str, Any]) -> httpx.Request:
        """The HTTP request for ``op`` with ``args`` (unset and None query values dropped)."""
        given = {k: v for k, v in args.items() if not isinstance(v, Unset)}
        unknown = set(given) - set(op.argument_names())
        if unknown:
            raise TypeError(f"{op.operation_id} takes no argument {', '.join(sorted(unknown))}")
        path = op.path
        for param in op.path_params:
            value = given.get(param.name)
            if value is None and param.name == "org_id":
                value = self.org_id
            if value is None or value == "":
                if param.name == "org_id":
                    raise NotConfigured(
                        "no organization: pass one, set MESHPLOY_ORG_ID, or choose a default "
                        "with: meshploy org use ORG"
                    )
                raise TypeError(f"{op.operation_id} needs {param.name}")
            path = path.replace("{" + param.name + "}", quote(_text(value), safe=""))
        query = {
            p.name: _text(given[p.name]) for p in op.query_params if given.get(p.name) is not None
        }
        body = None
        if op.body is not None:
            body = {name: given[name] for name in op.body_fields if name in given}
        timeout = self.timeout
        wait = given.get("wait")
        if isinstance(wait, int | float):
            timeout = max(timeout, float(wait) + LONG_POLL_MARGIN)
        return self._http.build_request(
            op.method,
            path,
            params=query or None,
            json=body,
            timeout=timeout,
        )

    async def call(self, operation_id: str, args: Mapping[str, Any]) -> Any:
        """Call an operation by id; returns the decoded JSON answer (None for 204)."""
        return await self.invoke(operation(operation_id), args)

    async def invoke(self, op: Operation, args: Mapping[str, Any]) -> Any:
        """Call ``op``; returns the decoded JSON answer (None when there is no body)."""
        request = self.build(op, args)
        try:
            response = await self._http.send(request)
        except httpx.TimeoutException:
            raise ApiUnreachable(
                f"the Meshploy API at {self.base_url} did not answer in time"
            ) from None
        except httpx.TransportError as exc:
            reason = str(exc) or type(exc).__name__
            raise ApiUnreachable(
                f"cannot reach the Meshploy API at {self.base_url}: {reason}"
            ) from None
        if response.status_code >= 400:
            raise ApiError.from_response(
                response.status_code,
                response.reason_phrase,
                response.headers.get("Content-Type", ""),
                response.content,
            )
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ApiError(
                response.status_code, "unexpected answer", "the API did not answer with JSON"
            ) from None

    async def pages(
        self, operation_id: str, args: Mapping[str, Any], *, limit: int | None = None
    ) -> AsyncIterator[Any]:
        """Every item of a paginated list, following ``next_cursor`` (at most ``limit``)."""
        cursor: str | None = None
        count = 0
        while True:
            page = await self.call(operation_id, {**args, "cursor": cursor})
            for item in page["items"]:
                yield item
                count += 1
                if limit is not None and count >= limit:
                    return
            cursor = page.get("next_cursor")
            if not cursor:
                return
