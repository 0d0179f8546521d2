"""Passwords are bcrypt hashes; tokens are random and stored as hashes."""

from __future__ import annotations

from meshploy_core.accounts.passwords import hash_password, verify_password
from meshploy_core.accounts.secrets import hash_token, issue_token, token_matches


def test_password_hash_verifies_and_is_not_plaintext() -> None:
    hashed = hash_password("correct horse battery", rounds=4)
    assert hashed.startswith("$2b$04$") and "correct" not in hashed
    assert verify_password("correct horse battery", hashed)
    assert not verify_password("wrong horse battery", hashed)
    assert not verify_password("x" * 100, hashed)
    assert not verify_password("anything", "not-a-hash")


def test_tokens_are_random_and_hashed() -> None:
    a, b = issue_token(), issue_token()
    assert a.secret != b.secret and a.prefix != b.prefix
    assert a.secret.startswith(a.prefix + "_")
    assert a.digest == hash_token(a.secret) and a.secret not in a.digest
    assert token_matches(a.secret, a.digest)
    assert not token_matches(b.secret, a.digest)
    assert len(a.secret) > 40
