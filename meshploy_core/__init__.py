"""Meshploy core: settings, database, encryption, plugins, the app factory and the CLI."""

__version__ = "0.1.0"
