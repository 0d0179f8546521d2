"""Shared test configuration. Fixtures live in tests/fixtures/, one module per real component.

Tests are grouped by capability (tests/accounts, tests/deploys, ...). What *kind* of test each
is (unit, integration, realnode, browser) is a marker, given to every test by the fixtures it
uses (:func:`pytest_collection_modifyitems`), so ``-m unit`` selects exactly the tests that
need no external program and ``-m "not realnode"`` the ones that run without containers.
"""

from __future__ import annotations

import pytest

from tests.fixtures import offline

# Test traffic never leaves the machine: refuse it in this process before it is sent.
offline.install()

pytest_plugins = [
    "tests.fixtures.postgres",
    "tests.fixtures.kube",
    "tests.fixtures.api",
    "tests.fixtures.cli",
    "tests.fixtures.deploys",
    "tests.fixtures.proxy",
    "tests.fixtures.realnode",
    "tests.fixtures.receivers",
]

KINDS = ("unit", "integration", "realnode", "browser")
#: A third-party plugin's own project, run by tests/plugins/test_third_party_notifier.py.
collect_ignore_glob = ["plugins/ntfy_plugin/*"]

#: Fixtures that start (or stand for) a real external program: a test using one of them,
#: directly or through other fixtures, is an integration test.
INTEGRATION_FIXTURES = frozenset(
    {
        "pg_server",  # PostgreSQL
        "sim_cluster",  # etcd, kube-apiserver, controllers, scheduler, kwok
        "kube_cluster",
        "proxy",  # the edge proxy process
        "served_api",  # the API served by Hypercorn
    }
)
#: A test using one of these runs real containers on a real node.
REALNODE_FIXTURES = frozenset({"real_bed", "real_namespace"})
#: A test using one of these drives a real browser.
BROWSER_FIXTURES = frozenset({"browser", "page"})


def kind_of(item: pytest.Item) -> str:
    """The kind a test is: an explicit kind marker wins, else what its fixtures start."""
    explicit = [k for k in KINDS if item.get_closest_marker(k) is not None]
    if len(explicit) > 1:
        raise pytest.UsageError(f"{item.nodeid} is marked as several kinds: {explicit}")
    if explicit:
        return explicit[0]
    names = set(getattr(item, "fixturenames", ()))
    if names & BROWSER_FIXTURES:
        return "browser"
    if names & REALNODE_FIXTURES:
        return "realnode"
    if names & INTEGRATION_FIXTURES:
        return "integration"
    return "unit"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Give every test exactly one kind marker."""
    for item in items:
        kind = kind_of(item)
        if item.get_closest_marker(kind) is None:
            item.add_marker(getattr(pytest.mark, kind))
