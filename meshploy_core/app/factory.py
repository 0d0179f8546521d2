"""The Quart app factory. Nothing is created at import time.

``create_app(settings)`` wires the database engine, the plugin manager and every plugin's
routes. The engine opens when the app starts serving and is disposed after it drains.

Plugin routes are registered while the app is created (``register_routes`` implementations
are synchronous), so the route table, the OpenAPI document and the authorization check all
see every route before the first request, even in a test client.
"""

from __future__ import annotations

import logging
import secrets

from quart import Quart, Response, g, request

from meshploy_core.app.health import health_blueprint
from meshploy_core.app.state import EXTENSION_KEY, AppState, close_state, kube_of, state
from meshploy_core.db.engine import create_engine, keyring_from_settings, session_factory
from meshploy_core.logs import request_id_var
from meshploy_core.plugins.context import Process, ProcessResources
from meshploy_core.plugins.manager import CONTEXT, PluginManager
from meshploy_core.settings import Settings
from meshploy_core.web import install_api

log = logging.getLogger(__name__)
REQUEST_ID_HEADER = "X-Request-Id"


def _valid_request_id(value: str | None) -> str | None:
    if value and 8 <= len(value) <= 64 and all(c.isalnum() or c in "-_." for c in value):
        return value
    return None


def create_app(settings: Settings, plugins: PluginManager | None = None) -> Quart:
    """Build the API/dashboard app for ``settings`` with every registered plugin's routes."""
    settings.require_database_url()
    keyring = keyring_from_settings(settings)
    app = Quart("meshploy")
    app.config["MAX_CONTENT_LENGTH"] = 1 * 1024 * 1024
    manager = plugins or PluginManager.load(settings=settings, process=Process.API)
    app.extensions[EXTENSION_KEY] = AppState(settings=settings, plugins=manager, keyring=keyring)
    app.register_blueprint(health_blueprint())

    @app.before_request
    async def _assign_request_id() -> None:
        rid = _valid_request_id(request.headers.get(REQUEST_ID_HEADER)) or secrets.token_hex(8)
        g.request_id = rid
        request_id_var.set(rid)

    @app.after_request
    async def _echo_request_id(response: Response) -> Response:
        rid = getattr(g, "request_id", None)
        if rid:
            response.headers[REQUEST_ID_HEADER] = rid
        return response

    # After the request id hook, so the policy check and error answers carry the id.
    install_api(app)
    # Each plugin on its own: one that raises is recorded in manager.failures, others load.
    manager.call_sync("register_routes", app=app, context=CONTEXT)

    @app.before_serving
    async def _open() -> None:
        st = state(app)
        st.engine = create_engine(settings)
        st.sessions = session_factory(st.engine)
        st.plugins.bind(ProcessResources(sessions=st.sessions, kube=lambda: kube_of(app)))

    @app.after_serving
    async def _close() -> None:
        await close_state(app)

    return app
