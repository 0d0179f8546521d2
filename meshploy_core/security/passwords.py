"""Password hashing with bcrypt. Passwords are never stored, only their hashes."""

from __future__ import annotations

import bcrypt

# bcrypt only looks at the first 72 bytes; longer passwords are rejected at the API edge.
MAX_PASSWORD_BYTES = 72
MIN_PASSWORD_CHARS = 10


def hash_password(password: str, rounds: int = 12) -> str:
    """Hash ``password`` with a fresh salt."""
    data = password.encode("utf-8")
    if len(data) > MAX_PASSWORD_BYTES:
        raise ValueError(f"password must be at most {MAX_PASSWORD_BYTES} bytes")
    return bcrypt.hashpw(data, bcrypt.gensalt(rounds=rounds)).decode("ascii")


def verify_password(password: str, hashed: str) -> bool:
    """Check ``password`` against a stored bcrypt hash in constant time."""
    data = password.encode("utf-8")
    if len(data) > MAX_PASSWORD_BYTES:
        return False
    try:
        return bcrypt.checkpw(data, hashed.encode("ascii"))
    except ValueError:
        return False
