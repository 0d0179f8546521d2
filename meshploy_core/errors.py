"""The error hierarchy every layer raises from.

User-facing messages say what was wrong and how to fix it; they never contain secrets.
"""

from __future__ import annotations


class MeshployError(Exception):
    """Base class of every error Meshploy raises on purpose."""


class ConfigError(MeshployError):
    """A setting is missing or malformed. The message is one line naming the variable."""


class DecryptionError(MeshployError):
    """An encrypted value could not be decrypted: tampered, or under an unknown key."""


class DatabaseError(MeshployError):
    """The database is unreachable or its schema does not match this code."""


class PluginError(MeshployError):
    """A plugin failed to load or registered something invalid."""
