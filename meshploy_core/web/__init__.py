"""HTTP plumbing of the API: problem details, pagination, OpenAPI, per-request context.

:func:`install_api` is called by the app factory; blueprints come from plugins
(``register_routes``) and use the helpers here.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable
from typing import Any

from quart import Quart

from meshploy_core.authorization.policy import public
from meshploy_core.web.context import install_request_hooks
from meshploy_core.web.openapi import install_openapi
from meshploy_core.web.problems import install_error_handlers

#: Endpoints the core itself serves without credentials (probes, the API document and docs).
CORE_PUBLIC_ENDPOINTS = (
    "health.healthz",
    "health.readyz",
    "openapi",
    "swagger_ui",
    "docs_asset",
    "static",
)


def declare_public(app: Quart, endpoint: str) -> None:
    """Declare an endpoint registered by someone else (quart-schema, probes) public."""
    view = app.view_functions.get(endpoint)
    if view is None:
        return

    @functools.wraps(view)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = view(*args, **kwargs)
        return await result if isinstance(result, Awaitable) else result

    app.view_functions[endpoint] = public(wrapper)


def install_api(app: Quart) -> None:
    """Install OpenAPI generation, error rendering and the per-request policy check."""
    install_openapi(app)
    install_error_handlers(app)
    install_request_hooks(app)
    for endpoint in CORE_PUBLIC_ENDPOINTS:
        declare_public(app, endpoint)


__all__ = ["CORE_PUBLIC_ENDPOINTS", "declare_public", "install_api"]
