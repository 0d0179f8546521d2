"""What a running app owns (settings, plugins, key ring, database, cluster connection).

This module imports nothing of the web layer, so request handling, the probes and the
factory can all reach the state without import cycles.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from quart import Quart
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from meshploy_core.encryption.keyring import KeyRing
from meshploy_core.errors import Unavailable
from meshploy_core.plugins.manager import PluginManager
from meshploy_core.settings import Settings

if TYPE_CHECKING:
    from meshploy_core.kube.adapter import KubeAdapter

EXTENSION_KEY = "meshploy"
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


def state(app: Quart) -> AppState:
    """The :class:`AppState` of ``app``."""
    value = app.extensions[EXTENSION_KEY]
    assert isinstance(value, AppState)
    return value


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


async def close_state(app: Quart) -> None:
    """Close the cluster connection and dispose of the engine (after the app drained)."""
    st = state(app)
    kube = st.extras.pop(KUBE_EXTRA, None)
    if kube is not None:
        await kube.close()
    if st.engine is not None:
        await st.engine.dispose()
        st.engine = None
        st.sessions = None
