"""Proxy tests: real sockets, a real proxy subprocess and real PostgreSQL.

The fixtures live in :mod:`tests.fixtures.proxy`; they are imported here (rather than listed
in the root ``pytest_plugins``) so only this package loads them.
"""

from tests.fixtures.proxy import proxy, proxy_db, proxy_out_dir, routes

__all__ = ["proxy", "proxy_db", "proxy_out_dir", "routes"]
