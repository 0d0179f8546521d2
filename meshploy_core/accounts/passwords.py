"""Email addresses and passwords: normalisation, rules and bcrypt hashing (off the event loop).

Passwords are never stored, only their bcrypt hashes.
"""

from __future__ import annotations

import asyncio
import re

import bcrypt

from meshploy_core.errors import ValidationFailed

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


MAX_EMAIL = 254
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_DUMMY_HASHES: dict[int, str] = {}


def normalize_email(email: str, field: str = "email") -> str:
    """Lower-cased, trimmed address; ValidationFailed if it does not look like one."""
    value = email.strip().lower()
    if len(value) > MAX_EMAIL or not _EMAIL.match(value):
        raise ValidationFailed(
            "email must be an address like name@example.com", {field: "not an email address"}
        )
    return value


def check_password_rules(password: str, field: str = "password") -> None:
    """Passwords are 10+ characters and at most 72 bytes (bcrypt's limit). Never echoed."""
    if len(password) < MIN_PASSWORD_CHARS:
        problem = f"must be at least {MIN_PASSWORD_CHARS} characters"
    elif len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        problem = f"must be at most {MAX_PASSWORD_BYTES} bytes in UTF-8"
    else:
        return
    raise ValidationFailed(f"{field} {problem}", {field: problem})


async def hash_password_async(password: str, rounds: int) -> str:
    """bcrypt in a worker thread: a hash costs milliseconds to seconds of CPU."""
    return await asyncio.to_thread(hash_password, password, rounds)


async def verify_password_async(password: str, hashed: str | None, rounds: int) -> bool:
    """Check a password in a worker thread; with no hash, burn the same time and fail.

    Comparing against a dummy hash when the account does not exist keeps the response time
    from telling whether an email is registered.
    """
    if hashed is None:
        dummy = _DUMMY_HASHES.get(rounds)
        if dummy is None:
            dummy = await asyncio.to_thread(hash_password, "meshploy-dummy-password", rounds)
            _DUMMY_HASHES[rounds] = dummy
        await asyncio.to_thread(verify_password, password, dummy)
        return False
    return await asyncio.to_thread(verify_password, password, hashed)
