"""Built-in Meshploy builders plugins (see the README for what ships today)."""
