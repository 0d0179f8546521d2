"""Meshploy's pytest plugin (entry point ``pytest11``): fixtures for plugin authors."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from meshploy_core.testing.receiver import HttpReceiver


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    """A real HTTP server on loopback recording every request it receives."""
    receiver = HttpReceiver().start()
    try:
        yield receiver
    finally:
        receiver.stop()


@pytest.fixture
def closed_url() -> str:
    """An http URL on loopback where nothing listens (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"
