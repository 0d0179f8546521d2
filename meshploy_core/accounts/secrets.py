"""Random secret tokens: shown once, stored as SHA-256 hashes, found by a public prefix.

A token looks like ``mpt_<8 char id>_<43 char secret>``. The high-entropy secret makes a
plain SHA-256 hash safe to store (no dictionary can reach it), and lookups stay one indexed
query.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field


@dataclass(frozen=True)
class IssuedToken:
    """A freshly issued token: ``secret`` is shown once; ``prefix`` and ``digest`` are stored."""

    secret: str = field(repr=False)
    prefix: str
    digest: str


def hash_token(secret: str) -> str:
    """Return the hex SHA-256 of a token secret (what the database stores)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def issue_token(kind: str = "mpt") -> IssuedToken:
    """Create a new random token of the given kind prefix (``mpt`` API, ``mpi`` invitation)."""
    ident = secrets.token_hex(4)
    secret = f"{kind}_{ident}_{secrets.token_urlsafe(32)}"
    return IssuedToken(secret=secret, prefix=f"{kind}_{ident}", digest=hash_token(secret))


def token_matches(secret: str, digest: str) -> bool:
    """Compare a presented secret with a stored digest in constant time."""
    return hmac.compare_digest(hash_token(secret), digest)
