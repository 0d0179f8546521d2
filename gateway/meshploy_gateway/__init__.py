"""Gateway application: API blueprints, dashboard and deployment bundle."""
