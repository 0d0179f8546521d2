"""AES-256-GCM key ring: sealing, tamper detection, key ids, wrong keys."""

from __future__ import annotations

import base64

import pytest

from meshploy_core.encryption.keyring import KeyRing, generate_key, is_ciphertext, key_id
from meshploy_core.errors import DecryptionError


def test_round_trip_and_fresh_nonce_each_time() -> None:
    ring = KeyRing.from_keys(generate_key())
    a, b = ring.encrypt("hunter2", "t.c"), ring.encrypt("hunter2", "t.c")
    assert a != b, "the same plaintext must never produce the same ciphertext"
    assert "hunter2" not in a
    assert is_ciphertext(a)
    assert ring.decrypt(a, "t.c") == ring.decrypt(b, "t.c") == "hunter2"


def test_key_id_is_tagged_and_not_the_key() -> None:
    key = generate_key()
    sealed = KeyRing.from_keys(key).encrypt("x", "t.c")
    assert sealed.split(":")[1] == key_id(key)
    assert key.hex()[:16] != key_id(key)


def test_tampering_is_detected() -> None:
    ring = KeyRing.from_keys(generate_key())
    sealed = ring.encrypt("payload", "t.c")
    prefix, kid, body = sealed.split(":")
    raw = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    raw[15] ^= 0x01
    forged = f"{prefix}:{kid}:{base64.urlsafe_b64encode(bytes(raw)).decode().rstrip('=')}"
    with pytest.raises(DecryptionError, match="failed authentication"):
        ring.decrypt(forged, "t.c")


def test_purpose_binding_rejects_value_moved_to_other_column() -> None:
    ring = KeyRing.from_keys(generate_key())
    with pytest.raises(DecryptionError, match="another field"):
        ring.decrypt(ring.encrypt("x", "users.totp_secret"), "services.env")


def test_wrong_key_fails_loudly_naming_key_ids() -> None:
    sealed = KeyRing.from_keys(generate_key()).encrypt("x", "t.c")
    other = KeyRing.from_keys(generate_key())
    with pytest.raises(DecryptionError, match="not configured") as info:
        other.decrypt(sealed, "t.c")
    assert other.current_id in str(info.value)


def test_previous_keys_still_open_old_values() -> None:
    old, new = generate_key(), generate_key()
    sealed = KeyRing.from_keys(old).encrypt("v", "t.c")
    ring = KeyRing.from_keys(new, [old])
    assert ring.decrypt(sealed, "t.c") == "v"
    assert ring.needs_rotation(sealed)
    assert not ring.needs_rotation(ring.encrypt("v", "t.c"))


def test_plaintext_is_not_accepted_as_ciphertext() -> None:
    with pytest.raises(DecryptionError, match="not Meshploy ciphertext"):
        KeyRing.from_keys(generate_key()).decrypt("plain value", "t.c")
