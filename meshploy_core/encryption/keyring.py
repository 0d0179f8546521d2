"""AES-256-GCM encryption of values at rest, with key ids so keys can be rotated.

Stored format (ASCII, fits a TEXT column)::

    mp1:<key id, 16 hex>:<base64url(nonce[12] + ciphertext + tag[16])>

The key id is derived from the key itself (a keyed hash, never the key), so a value always
says which key sealed it. The associated data binds a value to its *purpose* (for example
``services.env``): a ciphertext copied into another column fails authentication.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from meshploy_core.errors import DecryptionError

PREFIX = "mp1"
NONCE_BYTES = 12


def key_id(key: bytes) -> str:
    """Return the public 16-hex-character id of ``key`` (safe to store and log)."""
    return hmac.new(key, b"meshploy key id v1", hashlib.sha256).hexdigest()[:16]


def generate_key() -> bytes:
    """Return 32 fresh random bytes suitable for ``ENCRYPTION_KEY``."""
    return os.urandom(32)


def is_ciphertext(value: str) -> bool:
    """Whether ``value`` has the shape of a sealed value (says nothing about its validity)."""
    parts = value.split(":")
    return len(parts) == 3 and parts[0] == PREFIX and len(parts[1]) == 16


@dataclass(frozen=True)
class KeyRing:
    """The current key (used to seal) and older keys (accepted to open until rotated away)."""

    current: bytes = field(repr=False)
    previous: tuple[bytes, ...] = field(default=(), repr=False)

    @classmethod
    def from_keys(cls, current: bytes, previous: Iterable[bytes] = ()) -> KeyRing:
        """Build a ring, dropping previous keys equal to the current one."""
        return cls(current, tuple(k for k in previous if k != current))

    @property
    def current_id(self) -> str:
        """Id of the key new values are sealed with."""
        return key_id(self.current)

    def _key_for(self, kid: str) -> bytes | None:
        for key in (self.current, *self.previous):
            if hmac.compare_digest(key_id(key), kid):
                return key
        return None

    def encrypt(self, plaintext: str, purpose: str) -> str:
        """Seal ``plaintext`` under the current key with a fresh random 96-bit nonce."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self.current).encrypt(nonce, plaintext.encode("utf-8"), purpose.encode())
        body = base64.urlsafe_b64encode(nonce + sealed).decode("ascii").rstrip("=")
        return f"{PREFIX}:{self.current_id}:{body}"

    def decrypt(self, token: str, purpose: str) -> str:
        """Open a sealed value; raise :class:`DecryptionError` if tampered or key unknown."""
        if not is_ciphertext(token):
            raise DecryptionError(
                f"stored value for {purpose} is not Meshploy ciphertext; it may have been "
                "written outside Meshploy or corrupted"
            )
        _, kid, body = token.split(":")
        key = self._key_for(kid)
        if key is None:
            raise DecryptionError(
                f"value for {purpose} was encrypted under key id {kid}, which is not "
                f"configured (current key id is {self.current_id}); set ENCRYPTION_KEY to "
                "that key, or list it in ENCRYPTION_KEY_PREVIOUS until rotation completes"
            )
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except ValueError:
            raise DecryptionError(f"value for {purpose} is corrupted (bad encoding)") from None
        if len(raw) < NONCE_BYTES + 16:
            raise DecryptionError(f"value for {purpose} is corrupted (too short)")
        try:
            plain = AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], purpose.encode())
        except InvalidTag:
            raise DecryptionError(
                f"value for {purpose} failed authentication: it was tampered with or "
                "belongs to another field"
            ) from None
        return plain.decode("utf-8")

    def needs_rotation(self, token: str) -> bool:
        """Whether ``token`` is sealed under a key other than the current one."""
        return not token.startswith(f"{PREFIX}:{self.current_id}:")
