"""The ``meshploy`` command as a person runs it: clear one-line errors, real servers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from meshploy_testbed.postgres import free_port

from tests.fixtures.postgres import make_temp_dir, random_key_b64

PROXY_PORTS = (free_port(), free_port())
CLEAN_ENV = {
    k: v
    for k, v in os.environ.items()
    if k not in ("DATABASE_URL", "ENCRYPTION_KEY", "KUBECONFIG", "MESHPLOY_CONFIG")
}


def meshploy(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "meshploy_core", *args],
        env={**CLEAN_ENV, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_help_needs_no_settings() -> None:
    result = meshploy("--help", env={"ENCRYPTION_KEY": "garbage"})
    assert result.returncode == 0
    for command in ("db", "admin", "plugins", "serve", "dev"):
        assert command in result.stdout


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"DATABASE_URL": "postgresql://u:pw@127.0.0.1:1/x", "ENCRYPTION_KEY": "AAAA"},
            "error: ENCRYPTION_KEY must be 32 bytes, base64 or hex; got 3 bytes",
        ),
        ({"DATABASE_URL": "sqlite:///x.db"}, "error: DATABASE_URL must be a PostgreSQL URL"),
        ({}, "error: DATABASE_URL is not set"),
    ],
)
def test_bad_settings_stop_with_one_line(env: dict[str, str], expected: str) -> None:
    result = meshploy("db", "upgrade", env=env)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"want one line, got {lines}"
    assert lines[0].startswith(expected), lines[0]


def test_unreachable_database_is_one_line_without_password() -> None:
    result = meshploy(
        "db", "upgrade", env={"DATABASE_URL": "postgresql://u:hunter2pw@127.0.0.1:1/x"}
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot reach the database")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "hunter2pw" not in result.stderr


def test_usage_error_exits_2() -> None:
    assert meshploy("db", "nonsense").returncode == 2


def test_db_commands_on_real_database(empty_database_url: str) -> None:
    env = {"DATABASE_URL": empty_database_url}
    assert "empty" in meshploy("db", "current", env=env).stdout
    up = meshploy("db", "upgrade", env=env)
    assert up.returncode == 0, up.stderr
    assert "(current)" in up.stdout
    again = meshploy("db", "upgrade", env=env)
    assert again.returncode == 0 and "(current)" in again.stdout
    down = meshploy("db", "downgrade", "base", env=env)
    assert down.returncode == 0 and "base" in down.stdout


def test_serve_refuses_a_schema_that_is_not_current(empty_database_url: str) -> None:
    result = meshploy(
        "serve",
        "--port",
        str(free_port()),
        env={"DATABASE_URL": empty_database_url, "ENCRYPTION_KEY": random_key_b64()},
    )
    assert result.returncode == 1
    assert "run: meshploy db upgrade" in result.stderr


def _wait_line(proc: subprocess.Popen[str], prefix: str, timeout: float) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith(prefix):
            return line.strip()
        if not line and proc.poll() is not None:
            break
    raise AssertionError(f"no {prefix!r} line within {timeout}s (exit {proc.poll()})")


def _run_dev(data_dir: Path, port: int, stderr: Path) -> subprocess.Popen[str]:
    with stderr.open("a") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "meshploy_core", "dev", "--port", str(port)],
            env={
                **CLEAN_ENV,
                "MESHPLOY_DATA_DIR": str(data_dir),
                "MESHPLOY_PROXY_PORT": str(PROXY_PORTS[0]),
                "MESHPLOY_PROXY_ADMIN_PORT": str(PROXY_PORTS[1]),
            },
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


def _dev_ready(proc: subprocess.Popen[str], port: int) -> dict[str, str]:
    """Wait for the three lines dev prints when ready; check the API answers with the token."""
    url = _wait_line(proc, "MESHPLOY_API_URL=", 120).split("=", 1)[1]
    assert url == f"http://127.0.0.1:{port}"
    token = _wait_line(proc, "MESHPLOY_TOKEN=", 10).split("=", 1)[1]
    org = _wait_line(proc, "MESHPLOY_ORG_ID=", 10).split("=", 1)[1]
    assert httpx.get(f"{url}/readyz", timeout=10).status_code == 200
    unknown = httpx.get(
        f"http://127.0.0.1:{PROXY_PORTS[0]}/", headers={"Host": "nope.test"}, timeout=10
    )
    assert unknown.status_code == 404, "the edge proxy answers unknown hosts itself"
    me = httpx.get(
        f"{url}/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert me.status_code == 200, me.text
    orgs = httpx.get(
        f"{url}/api/v1/orgs/{org}", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert orgs.status_code == 200, orgs.text
    return {"url": url, "token": token, "org": org}


@pytest.mark.integration  # starts PostgreSQL and the Kubernetes control plane itself
def test_dev_runs_everything_and_keeps_state(tmp_path: Path) -> None:
    data_dir = make_temp_dir("meshploy-dev-") / "data"
    port = free_port()
    err = tmp_path / "dev.err"
    proc = _run_dev(data_dir, port, err)
    try:
        first = _dev_ready(proc, port)
    finally:
        _stop(proc)
    assert proc.returncode == 0
    key_file = data_dir / "dev-encryption-key"
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    first_key = key_file.read_text()
    password_file = data_dir / "dev-owner-password"
    assert oct(password_file.stat().st_mode & 0o777) == "0o600"
    assert not (data_dir / "postgres" / "postmaster.pid").exists(), "PostgreSQL left running"
    said = err.read_text()
    assert "reconciler worker running" in said, said[-2000:]
    assert f"edge proxy serving on http://127.0.0.1:{PROXY_PORTS[0]}" in said, said[-2000:]
    assert first["token"] not in said, "the token goes to stdout only, never to the log"
    kubeconfig = Path(
        next(line for line in said.splitlines() if line.startswith("KUBECONFIG=")).split("=", 1)[1]
    )
    assert not kubeconfig.exists(), "the local cluster's files must be removed at exit"

    # A second run reuses the same PostgreSQL data, key and owner, with a fresh token.
    proc = _run_dev(data_dir, port, err)
    try:
        second = _dev_ready(proc, port)
        assert second["org"] == first["org"]
        assert second["token"] != first["token"]
        old = httpx.get(
            f"{second['url']}/api/v1/auth/me",
            headers={"Authorization": f"Bearer {first['token']}"},
            timeout=10,
        )
        assert old.status_code == 401, "the previous run's token must be revoked"
    finally:
        _stop(proc)
    assert key_file.read_text() == first_key
