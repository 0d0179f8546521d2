"""State kept by ``meshploy dev`` between runs: its data directory and dev encryption key."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import platformdirs

from meshploy_core.encryption.keyring import generate_key


def data_dir() -> Path:
    """``MESHPLOY_DATA_DIR``, else the user's data dir (``/var/lib/meshploy`` for root).

    Root's home is not traversable by the unprivileged user PostgreSQL must run as, so root
    gets a system location.
    """
    override = os.environ.get("MESHPLOY_DATA_DIR")
    if override:
        return Path(override).expanduser()
    if os.geteuid() == 0:
        return Path("/var/lib/meshploy")
    return Path(platformdirs.user_data_dir("meshploy"))


def dev_encryption_key(directory: Path) -> str:
    """The dev ENCRYPTION_KEY, generated once and kept (mode 0600) in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    # PostgreSQL runs unprivileged below this directory when we are root: it must traverse.
    os.chmod(directory, 0o755)  # noqa: S103
    path = directory / "dev-encryption-key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(base64.b64encode(generate_key()).decode())
    return path.read_text().strip()
