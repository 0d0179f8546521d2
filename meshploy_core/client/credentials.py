"""The CLI's stored login: ``<user config dir>/meshploy/credentials.json``, mode 0600.

The directory is created with mode 0700 and the file is written atomically (a new file
opened 0600, then renamed), so the token is never readable by other users, not even for an
instant. ``MESHPLOY_API_URL``, ``MESHPLOY_TOKEN`` and ``MESHPLOY_ORG_ID`` override what is
stored, each on its own (see :func:`resolve`).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from meshploy_core.client.errors import NotConfigured

FILE_NAME = "credentials.json"
TOKEN_SHAPE = re.compile(r"^(mp[a-z])_([0-9a-f]{8})_")


def config_dir() -> Path:
    """Meshploy's directory in the user's config directory (``$XDG_CONFIG_HOME/meshploy``)."""
    from platformdirs import user_config_dir

    return Path(user_config_dir("meshploy", appauthor=False))


def credentials_path() -> Path:
    """Where the login is stored."""
    return config_dir() / FILE_NAME


def mask_token(token: str) -> str:
    """A token with its secret part hidden: ``mpt_1a2b3c4d_…`` (prefix and id stay)."""
    match = TOKEN_SHAPE.match(token)
    if match:
        return f"{match.group(1)}_{match.group(2)}_" + "*" * 8
    return token[:3] + "*" * 8 if len(token) > 12 else "*" * 8


@dataclass(frozen=True)
class StoredLogin:
    """What ``meshploy auth login`` keeps: where the API is, the token, the default org."""

    api_url: str
    token: str
    org_id: str | None = None
    email: str | None = None
    kind: str | None = None

    def __repr__(self) -> str:
        return (
            f"StoredLogin(api_url={self.api_url!r}, token={mask_token(self.token)!r}, "
            f"org_id={self.org_id!r}, email={self.email!r}, kind={self.kind!r})"
        )


def load(path: Path | None = None) -> StoredLogin | None:
    """The stored login, or None if there is none (an unreadable file is an error)."""
    target = path or credentials_path()
    try:
        raw = target.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise NotConfigured(f"cannot read the stored login {target}: {exc.strerror}") from None
    try:
        data: Any = json.loads(raw)
        return StoredLogin(
            api_url=str(data["api_url"]),
            token=str(data["token"]),
            org_id=data.get("org_id"),
            email=data.get("email"),
            kind=data.get("kind"),
        )
    except (ValueError, KeyError, TypeError):
        raise NotConfigured(
            f"the stored login {target} is damaged; log in again with: meshploy auth login"
        ) from None


def save(login: StoredLogin, path: Path | None = None) -> Path:
    """Store ``login`` (directory 0700, file 0600, replaced atomically); returns the path."""
    target = path or credentials_path()
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(target.parent, 0o700)
    temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(asdict(login), handle, indent=2)
            handle.write("\n")
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return target


def delete(path: Path | None = None) -> bool:
    """Forget the stored login; False if there was none."""
    target = path or credentials_path()
    try:
        target.unlink()
    except FileNotFoundError:
        return False
    return True


@dataclass(frozen=True)
class Connection:
    """Where to send API calls and with which credential, after every override applied."""

    api_url: str | None
    token: str | None
    org_id: str | None
    stored: StoredLogin | None

    def __repr__(self) -> str:
        token = mask_token(self.token) if self.token else None
        return f"Connection(api_url={self.api_url!r}, token={token!r}, org_id={self.org_id!r})"

    def require(self, *, token: bool = True) -> Connection:
        """This connection, or NotConfigured saying how to log in."""
        if not self.api_url and not self.token:
            raise NotConfigured(
                "not logged in: run `meshploy auth login --api-url URL`, or set "
                "MESHPLOY_API_URL and MESHPLOY_TOKEN"
            )
        if not self.api_url:
            raise NotConfigured(
                "no API URL: log in with `meshploy auth login --api-url URL`, or set "
                "MESHPLOY_API_URL (and MESHPLOY_TOKEN)"
            )
        if token and not self.token:
            raise NotConfigured("not logged in: run `meshploy auth login`, or set MESHPLOY_TOKEN")
        return self

    def with_org(self, org_id: str | None) -> Connection:
        """The same connection with another default organization."""
        return replace(self, org_id=org_id)


def resolve(
    environ: Mapping[str, str] | None = None,
    *,
    api_url: str | None = None,
    path: Path | None = None,
) -> Connection:
    """The connection to use: ``api_url`` if given, then ``MESHPLOY_API_URL`` /
    ``MESHPLOY_TOKEN`` / ``MESHPLOY_ORG_ID``, then the stored login, field by field.

    The stored token and organization are used only with the API they were stored for: a
    stored token is never sent to another server named by ``--api-url`` or the environment.
    """
    env = os.environ if environ is None else environ
    stored = load(path)
    url = api_url or env.get("MESHPLOY_API_URL") or None
    if stored is not None and url is not None and not _same_api(url, stored.api_url):
        stored_for_url = None
    else:
        stored_for_url = stored
    return Connection(
        api_url=url or (stored.api_url if stored else None),
        token=env.get("MESHPLOY_TOKEN") or (stored_for_url.token if stored_for_url else None),
        org_id=env.get("MESHPLOY_ORG_ID") or (stored_for_url.org_id if stored_for_url else None),
        stored=stored,
    )


def _same_api(a: str, b: str) -> bool:
    def norm(url: str) -> str:
        return url.strip().rstrip("/").removesuffix("/api/v1").lower()

    return norm(a) == norm(b)
