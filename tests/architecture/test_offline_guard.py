"""The guard that keeps test traffic on the machine (tests/fixtures/offline.py) works."""

from __future__ import annotations

import socket

import pytest

from tests.fixtures.offline import OffMachineError, leaves_machine


def test_off_machine_connections_are_refused_before_they_are_sent() -> None:
    assert (leaves_machine("8.8.8.8") and leaves_machine("192.0.2.77")) or not leaves_machine(
        "8.8.8.8"
    )  # a machine without a default route has nothing to guard
    if not leaves_machine("8.8.8.8"):
        pytest.skip("this machine has no route off it")
    with socket.socket() as sock, pytest.raises(OffMachineError, match=r"8\.8\.8\.8"):
        sock.connect(("8.8.8.8", 53))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, pytest.raises(OffMachineError):
        udp.connect(("1.1.1.1", 53))


def test_lookups_of_outside_names_are_refused() -> None:
    with pytest.raises(socket.gaierror, match="must not leave"):
        socket.getaddrinfo("example.com", 443)
    assert socket.getaddrinfo("localhost", 80)
    assert socket.getaddrinfo("127.0.0.1", 80)


def test_local_addresses_are_allowed() -> None:
    assert not leaves_machine("127.0.0.1")
    assert not leaves_machine("::1")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname(), timeout=5):
            pass
