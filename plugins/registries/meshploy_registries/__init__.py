"""Built-in Meshploy registries plugins (see the README for what ships today)."""
