"""Shared test configuration. Fixtures live in tests/fixtures/, one module per real component."""

from __future__ import annotations

pytest_plugins = [
    "tests.fixtures.postgres",
    "tests.fixtures.kube",
    "tests.fixtures.api",
    "tests.fixtures.cli",
    "tests.fixtures.realnode",
]
