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


# -- Domain errors raised by services; the API maps each to one HTTP status in
# -- meshploy_core/web/problems.py (the only place that knows about HTTP).


class NotFound(MeshployError):
    """The resource does not exist, or the caller may not know that it exists."""


class Conflict(MeshployError):
    """The request contradicts the current state (a duplicate name, the last owner, ...)."""


class PermissionDenied(MeshployError):
    """The caller is known but not allowed to do this."""


class Unauthenticated(MeshployError):
    """No valid credentials: log in, or send a valid bearer token."""


class ValidationFailed(MeshployError):
    """Input was well-formed but not acceptable. ``errors`` maps field names to messages."""

    def __init__(self, message: str, errors: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.errors: dict[str, str] = dict(errors or {})


class Unavailable(MeshployError):
    """Something the request needs (the Kubernetes cluster, ...) cannot be reached now."""


class RateLimited(MeshployError):
    """Too many attempts; retry after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))
