"""Proxy tests: real sockets, a real proxy subprocess and real PostgreSQL.

The fixtures live in :mod:`tests.fixtures.proxy`; they are imported here (rather than listed
in the root ``pytest_plugins``) so only this package loads them.

``--repeat N`` runs each selected test N times in one session (against the same proxy
process), for hunting races by hand, e.g. docs/proxy.md's 200-run proof:
``.venv/bin/pytest tests/proxy/test_splice.py::test_x --repeat 200 -x``. The suite itself
never repeats anything.
"""

from __future__ import annotations

import pytest

from tests.fixtures.proxy import proxy, proxy_db, proxy_out_dir, routes

__all__ = ["proxy", "proxy_db", "proxy_out_dir", "routes"]


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--repeat N`` (default 1)."""
    parser.addoption(
        "--repeat", type=int, default=1, help="run each selected proxy test N times (races)"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise every test over ``range(N)`` when ``--repeat N`` is above 1."""
    count = int(metafunc.config.getoption("repeat", default=1))
    if count > 1:
        metafunc.fixturenames.append("_repeat")
        metafunc.parametrize("_repeat", range(count), ids=lambda i: f"run{i + 1}")
