"""Built-in Meshploy dns plugins (see the README for what ships today)."""
