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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from quart import Quart, Response, g, request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from meshploy_core.api import install_api
from meshploy_core.crypto import KeyRing
from meshploy_core.db.engine import create_engine, keyring_from_settings, session_factory
from meshploy_core.errors import Unavailable
from meshploy_core.health import health_blueprint
from meshploy_core.logs import request_id_var
from meshploy_core.plugins.manager import PluginManager
from meshploy_core.settings import Settings

if TYPE_CHECKING:
    from meshploy_core.kube.adapter import KubeAdapter

log = logging.getLogger(__name__)
EXTENSION_KEY = "meshploy"
REQUEST_ID_HEADER = "X-Request-Id"
KUBE_EXTRA = "kube"


@dataclass
class AppState:
    """What the app owns while it serves. Reach it with :func:`state`."""

    settings: Settings
    plugins: PluginManager
    keyring: KeyRing
    engine: AsyncEngine | None = None
    sessions: async_sessionmaker[AsyncSession] | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def session(self) -> AsyncSession:
        """A new session (one per request or task; never share between tasks)."""
        if self.sessions is None:
            raise RuntimeError("the app is not serving: no database engine yet")
        return self.sessions()


async def kube_of(app: Quart) -> KubeAdapter:
    """The app's Kubernetes connection (``KUBECONFIG``), opened on first use.

    Raises :class:`Unavailable` when no cluster is configured or it cannot be reached.
    """
    from meshploy_core.kube.adapter import KubeAdapter, KubeError

    st = state(app)
    kube = st.extras.get(KUBE_EXTRA)
    if kube is None:
        if not st.settings.kubeconfig:
            raise Unavailable(
                "this Meshploy has no Kubernetes cluster configured; set KUBECONFIG for the "
                "API server (meshploy dev does it for you)"
            )
        try:
            kube = await KubeAdapter.connect(st.settings.kubeconfig)
        except KubeError as exc:
            raise Unavailable(
                f"{exc}; check that the cluster in the server's KUBECONFIG is up"
            ) from None
        st.extras[KUBE_EXTRA] = kube
    assert isinstance(kube, KubeAdapter)
    return kube


def state(app: Quart) -> AppState:
    """The :class:`AppState` of ``app``."""
    value = app.extensions[EXTENSION_KEY]
    assert isinstance(value, AppState)
    return value


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
    manager = plugins or PluginManager.load()
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
    manager.call_each_sync("register_routes", app=app)

    @app.before_serving
    async def _open() -> None:
        st = state(app)
        st.engine = create_engine(settings)
        st.sessions = session_factory(st.engine)

    @app.after_serving
    async def _close() -> None:
        st = state(app)
        kube = st.extras.pop(KUBE_EXTRA, None)
        if kube is not None:
            await kube.close()
        if st.engine is not None:
            await st.engine.dispose()
            st.engine = None
            st.sessions = None

    return app
