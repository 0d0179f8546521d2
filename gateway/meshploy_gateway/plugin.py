"""Entry point of the gateway plugin: the API blueprints and the dashboard (``meshploy`` group)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from meshploy_core.plugins import hookimpl

if TYPE_CHECKING:  # Quart is imported only when routes are registered (keeps the CLI fast)
    from quart import Quart


@hookimpl
def register_routes(app: Quart) -> None:
    """Add the ``/api/v1`` blueprints (accounts, organizations, members, tokens, projects,
    audit)."""
    from meshploy_gateway.api import blueprints

    for blueprint in blueprints():
        app.register_blueprint(blueprint)
