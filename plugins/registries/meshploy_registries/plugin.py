"""Entry point of the built-in registries plugin (``meshploy`` group, name ``registries``).

It provides the ``stored-logins`` image registry (private-registry logins, used by the
reconciler as image pull Secrets) and their API, ``/api/v1/orgs/{org}/registry-credentials``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from meshploy_core.plugins import hookimpl
from meshploy_core.plugins.catalogs import ImageRegistryCatalog
from meshploy_core.plugins.context import PluginContext

if TYPE_CHECKING:
    from quart import Quart


@hookimpl
def register_registries(registry: ImageRegistryCatalog, context: PluginContext) -> None:
    """Register ``stored-logins``."""
    from meshploy_registries.stored import StoredLoginsFactory  # keeps `meshploy --help` light

    registry.add(StoredLoginsFactory.kind, StoredLoginsFactory(context))


@hookimpl
def register_routes(app: Quart) -> None:
    """Add the registry-credentials API."""
    from meshploy_registries.api import bp

    app.register_blueprint(bp)
