"""Entry point of the gateway plugin: the API blueprints and the dashboard (``meshploy`` group)."""
