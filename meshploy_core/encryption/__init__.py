"""Secrets at rest: AES-256-GCM key ring, the encrypted column type, and key rotation."""
