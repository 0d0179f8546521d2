"""Run a private PostgreSQL cluster from the system's binaries.

Used by ``meshploy dev`` (a data directory kept between runs) and by the test harness (a
throwaway cluster with fsync off). The server listens on loopback and a Unix socket inside
the data directory; it is never exposed.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from meshploy_core.errors import MeshployError

_SEARCH_DIRS = ("/usr/lib/postgresql",)


class LocalPostgresError(MeshployError):
    """The local PostgreSQL could not be found, initialised or started."""


def find_pg_bin() -> Path:
    """Return the directory holding ``initdb``/``pg_ctl``, newest major version first."""
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(os.path.realpath(on_path)).parent
    for root in _SEARCH_DIRS:
        base = Path(root)
        if base.is_dir():
            versions = sorted(
                (p for p in base.iterdir() if (p / "bin" / "pg_ctl").exists()),
                key=lambda p: int(p.name) if p.name.isdigit() else 0,
                reverse=True,
            )
            if versions:
                return versions[0] / "bin"
    raise LocalPostgresError(
        "PostgreSQL server binaries not found; install them with: apt-get install postgresql "
        "(or set DATABASE_URL to an existing server)"
    )


def free_port() -> int:
    """Ask the kernel for a free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _demote() -> tuple[int, int] | None:
    """PostgreSQL refuses to run as root: return the uid/gid to run as, if we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return entry.pw_uid, entry.pw_gid
    raise LocalPostgresError("running as root and no 'postgres' or 'nobody' user to run as")


@dataclass
class LocalPostgres:
    """A PostgreSQL cluster in ``data_dir``. ``start()`` creates it on first use."""

    data_dir: Path
    port: int = 0
    fsync: bool = True
    user: str = "meshploy"
    password: str = field(default_factory=lambda: secrets.token_hex(16), repr=False)
    _bin: Path | None = field(default=None, repr=False)

    @property
    def bin(self) -> Path:
        if self._bin is None:
            self._bin = find_pg_bin()
        return self._bin

    @property
    def _password_file(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}.password"

    def url(self, database: str = "meshploy") -> str:
        """SQLAlchemy URL for ``database`` on this cluster."""
        return f"postgresql+asyncpg://{self.user}:{self.password}@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str = "meshploy") -> str:
        """libpq/asyncpg DSN for ``database`` on this cluster."""
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, as_ids: tuple[int, int] | None) -> subprocess.CompletedProcess[str]:
        def preexec() -> None:
            if as_ids:
                os.setgid(as_ids[1])
                os.setuid(as_ids[0])

        return subprocess.run(
            args, capture_output=True, text=True, preexec_fn=preexec, check=False, timeout=120
        )

    def _chown(self, path: Path, ids: tuple[int, int] | None) -> None:
        if ids:
            os.chown(path, *ids)

    def initialised(self) -> bool:
        """Whether the data directory already holds a cluster."""
        return (self.data_dir / "PG_VERSION").exists()

    def init(self) -> None:
        """Create the cluster, the ``meshploy`` role with a password, and its database."""
        ids = _demote()
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(mode=0o700, exist_ok=True)
        self._chown(self.data_dir, ids)
        pwfile = self.data_dir.parent / f".{self.data_dir.name}.pw.tmp"
        pwfile.write_text(self.password)
        self._chown(pwfile, ids)
        try:
            result = self._run(
                str(self.bin / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                self.user,
                "--pwfile",
                str(pwfile),
                "-A",
                "scram-sha-256",
                "-E",
                "UTF8",
                "--no-locale",
                as_ids=ids,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise LocalPostgresError(f"initdb failed: {result.stderr.strip()[-500:]}")
        self._password_file.write_text(self.password)
        self._password_file.chmod(0o600)

    def start(self, timeout: float = 30.0) -> None:
        """Initialise if needed, start the server, and create the ``meshploy`` database."""
        if self.initialised():
            if self._password_file.exists():
                self.password = self._password_file.read_text().strip()
        else:
            self.init()
        if not self.port:
            self.port = free_port()
        ids = _demote()
        opts = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 "
            f"-c unix_socket_directories={self.data_dir} -c max_connections=200"
        )
        if not self.fsync:
            opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        log = self.data_dir / "server.log"
        result = self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data_dir),
            "-l",
            str(log),
            "-o",
            opts,
            "-w",
            "-t",
            str(int(timeout)),
            "start",
            as_ids=ids,
        )
        if result.returncode != 0:
            tail = log.read_text(errors="replace")[-800:] if log.exists() else result.stderr
            raise LocalPostgresError(f"PostgreSQL did not start: {tail.strip()}")
        self._wait_ready(timeout)
        self.create_database("meshploy", exist_ok=True)

    def _psql(self, sql: str, database: str = "postgres") -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PGPASSWORD": self.password}
        return subprocess.run(
            [
                str(self.bin / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                self.user,
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-Atc",
                sql,
            ],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=60,
        )

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            result = self._psql("select 1")
            if result.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise LocalPostgresError(f"PostgreSQL not accepting connections: {result.stderr}")
            time.sleep(0.1)

    def create_database(
        self, name: str, template: str | None = None, exist_ok: bool = False
    ) -> None:
        """Create database ``name`` (optionally from ``template``)."""
        exists = self._psql(f"select 1 from pg_database where datname = '{name}'").stdout.strip()
        if exists:
            if exist_ok:
                return
            raise LocalPostgresError(f"database {name} already exists")
        sql = f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")
        result = self._psql(sql)
        if result.returncode != 0:
            raise LocalPostgresError(f"could not create database {name}: {result.stderr.strip()}")

    def drop_database(self, name: str) -> None:
        """Drop database ``name``, disconnecting anyone still using it."""
        self._psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def pid(self) -> int | None:
        """The postmaster's pid, or None when it is not running."""
        pidfile = self.data_dir / "postmaster.pid"
        with contextlib.suppress(FileNotFoundError, ValueError, IndexError):
            pid = int(pidfile.read_text().splitlines()[0])
            os.kill(pid, 0)
            return pid
        return None

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast`` disconnects clients; ``immediate`` is a crash)."""
        if self.pid() is None:
            return
        ids = _demote()
        result = self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data_dir),
            "-m",
            mode,
            "-w",
            "stop",
            as_ids=ids,
        )
        if result.returncode != 0:
            pid = self.pid()
            if pid:
                os.kill(pid, signal.SIGKILL)
