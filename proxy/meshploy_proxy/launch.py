"""Starting the proxy as a child process (for ``meshploy dev``, tests and benchmarks)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import IO, Any

from meshploy_core.errors import MeshployError
from meshploy_core.settings import Settings


class ProxyStartError(MeshployError):
    """The proxy did not become ready in time."""


def proxy_command(
    *,
    workers: int = 1,
    host: str | None = None,
    port: int | None = None,
    admin_port: int | None = None,
    extra_args: tuple[str, ...] = (),
) -> list[str]:
    """The argv that runs the proxy with these options."""
    argv = [sys.executable, "-m", "meshploy_proxy", "--workers", str(workers)]
    if host is not None:
        argv += ["--host", host]
    if port is not None:
        argv += ["--port", str(port)]
    if admin_port is not None:
        argv += ["--admin-port", str(admin_port)]
    return argv + list(extra_args)


def start_subprocess(
    settings: Settings,
    *,
    workers: int = 1,
    host: str | None = None,
    port: int | None = None,
    admin_port: int | None = None,
    extra_args: tuple[str, ...] = (),
    env: Mapping[str, str] | None = None,
    stdout: int | IO[Any] | None = None,
    stderr: int | IO[Any] | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``python -m meshploy_proxy`` with ``settings``' database and ports.

    ``settings.database_url`` is passed as ``DATABASE_URL`` (so a database chosen at run time,
    like ``meshploy dev``'s own PostgreSQL, is used); ports default to the settings'. Stop it
    with ``proc.terminate()`` (graceful) and ``proc.wait()``.
    """
    child_env = dict(os.environ if env is None else env)
    child_env["DATABASE_URL"] = settings.require_database_url()
    child_env["MESHPLOY_LOG_LEVEL"] = settings.log_level
    argv = proxy_command(
        workers=workers,
        host=host,
        port=port if port is not None else settings.proxy_port,
        admin_port=admin_port if admin_port is not None else settings.proxy_admin_port,
        extra_args=extra_args,
    )
    return subprocess.Popen(argv, env=child_env, stdout=stdout, stderr=stderr)


def readiness(admin_port: int, host: str = "127.0.0.1", timeout: float = 2.0) -> dict[str, Any]:
    """The proxy's ``/readyz`` JSON (raises OSError when it does not answer)."""
    url = f"http://{host}:{admin_port}/readyz"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            data: dict[str, Any] = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        data = json.loads(exc.read() or b"{}")
    return data


def wait_ready(
    proc: subprocess.Popen[bytes], admin_port: int, timeout: float = 30.0
) -> dict[str, Any]:
    """Poll ``/readyz`` until it reports ready; raise :class:`ProxyStartError` otherwise."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ProxyStartError(f"the proxy exited with code {proc.returncode} while starting")
        try:
            data = readiness(admin_port)
        except (OSError, ValueError) as exc:
            last = exc
        else:
            if data.get("ready"):
                return data
            last = data
        time.sleep(0.05)
    raise ProxyStartError(f"the proxy was not ready within {timeout:.0f}s (last: {last})")
