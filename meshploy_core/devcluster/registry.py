"""The test bed's image registry: Debian's ``docker-registry`` (CNCF distribution 2.8).

It stands in for the built-in registry on the gateway (``mesh_ip:5000``): bound to the
gateway's address on the real-node bridge, plain HTTP (containerd on each real node is
configured to trust it), storage under the cluster's work directory.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import yaml

from meshploy_core.devcluster.binaries import DevClusterError

REGISTRY_BINARY = "docker-registry"
MISSING_MESSAGE = (
    "docker-registry is not installed; real nodes pull their images from a local registry: "
    "apt-get install docker-registry"
)


def registry_binary() -> Path:
    """Path of Debian's ``docker-registry`` or a one-line error naming the package."""
    found = shutil.which(REGISTRY_BINARY, path="/usr/bin:/usr/sbin:/bin:/sbin")
    if found is None:
        raise DevClusterError(MISSING_MESSAGE)
    return Path(found)


def registry_config(storage: Path, address: str) -> dict[str, object]:
    """The registry's configuration: filesystem storage, HTTP on ``address`` (host:port)."""
    return {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(storage)},
            "delete": {"enabled": True},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": {"addr": address, "headers": {"X-Content-Type-Options": ["nosniff"]}},
    }


def write_registry_config(directory: Path, address: str) -> Path:
    """Write ``registry.yml`` (and the storage directory) under ``directory``."""
    storage = directory / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    path = directory / "registry.yml"
    path.write_text(yaml.safe_dump(registry_config(storage, address)))
    return path


def registry_ready(address: str) -> bool:
    """True once ``GET /v2/`` answers 200 (the distribution API's version check)."""
    try:
        return httpx.get(f"http://{address}/v2/", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False
