"""Entry point of the gateway plugin: the API blueprints and the dashboard (``meshploy`` group)."""

from __future__ import annotations

from quart import Quart

from meshploy_core.plugins import hookimpl


@hookimpl
def register_routes(app: Quart) -> None:
    """Add the ``/api/v1`` blueprints (accounts, organizations, members, tokens, projects,
    audit)."""
    from meshploy_gateway.api import blueprints

    for blueprint in blueprints():
        app.register_blueprint(blueprint)
