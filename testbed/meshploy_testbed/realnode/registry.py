"""The test bed's image registries: Debian's ``docker-registry`` (CNCF distribution 2.8).

The open one stands in for the built-in registry on the gateway (``mesh_ip:5000``): bound
to the gateway's address on the real-node bridge, plain HTTP (containerd on each real node
is configured to trust it), storage under the cluster's work directory. A second instance
with a login (distribution's ``htpasswd`` auth: ``401`` with ``WWW-Authenticate: Basic``
until a valid user and password come along) stands in for a private registry.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import httpx
import yaml

from meshploy_testbed.cluster.binaries import DevClusterError

REGISTRY_BINARY = "docker-registry"
MISSING_MESSAGE = (
    "docker-registry is not installed; real nodes pull their images from a local registry: "
    "apt-get install docker-registry"
)
AUTH_REALM = "meshploy-test-registry"
# distribution checks the bcrypt hash on every request; the lowest cost keeps pushes fast.
_BCRYPT_ROUNDS = 4


@dataclass(frozen=True)
class Login:
    """A user and password a registry with htpasswd auth accepts."""

    username: str
    password: str

    def htpasswd_line(self) -> str:
        """``user:<bcrypt hash>``, the only hash format distribution's htpasswd accepts."""
        salt = bcrypt.gensalt(rounds=_BCRYPT_ROUNDS)
        hashed = bcrypt.hashpw(self.password.encode(), salt).decode()
        return f"{self.username}:{hashed}\n"


def registry_binary() -> Path:
    """Path of Debian's ``docker-registry`` or a one-line error naming the package."""
    found = shutil.which(REGISTRY_BINARY, path="/usr/bin:/usr/sbin:/bin:/sbin")
    if found is None:
        raise DevClusterError(MISSING_MESSAGE)
    return Path(found)


def registry_config(storage: Path, address: str, htpasswd: Path | None = None) -> dict[str, object]:
    """The registry's configuration: filesystem storage, HTTP on ``address`` (host:port),
    and with ``htpasswd`` basic-auth logins from that file."""
    config: dict[str, object] = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(storage)},
            "delete": {"enabled": True},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": {"addr": address, "headers": {"X-Content-Type-Options": ["nosniff"]}},
    }
    if htpasswd is not None:
        config["auth"] = {"htpasswd": {"realm": AUTH_REALM, "path": str(htpasswd)}}
    return config


def write_registry_config(directory: Path, address: str, login: Login | None = None) -> Path:
    """Write ``registry.yml`` (and the storage directory) under ``directory``; with
    ``login``, an ``htpasswd`` file holding it and a configuration requiring it."""
    storage = directory / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    htpasswd = None
    if login is not None:
        htpasswd = directory / "htpasswd"
        htpasswd.write_text(login.htpasswd_line())
    path = directory / "registry.yml"
    path.write_text(yaml.safe_dump(registry_config(storage, address, htpasswd)))
    return path


def registry_ready(address: str, login: Login | None = None) -> bool:
    """True once ``GET /v2/`` answers 200 (the distribution API's version check), sent
    with ``login`` when the registry requires one."""
    auth = (login.username, login.password) if login is not None else None
    try:
        return httpx.get(f"http://{address}/v2/", auth=auth, timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False
