"""Private container registries: an organization's stored logins, and which image needs one.

A credential belongs to an organization and names a registry ``server`` (``ghcr.io``,
``registry.example.com:5000``; Docker Hub is ``docker.io``). A service whose image lives on
that server is pulled with it: the reconciler puts it in an image pull Secret in the
project's namespace. Which registry an image lives on follows Docker's reference rules
(:func:`registry_of`), so ``nginx`` and ``library/nginx`` are on ``docker.io`` and
``localhost:5000/app`` on ``localhost:5000``.

The password is encrypted at rest (``registry_credentials.password``), is never returned by
any read, and never appears in audit details, logs or errors.
"""

from __future__ import annotations

import ipaddress
import re
import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from meshploy_core import audit
from meshploy_core.audit import Actor
from meshploy_core.db.base import utcnow
from meshploy_core.db.paging import Page, PageRequest, fetch_page
from meshploy_core.errors import Conflict, NotFound, ValidationFailed
from meshploy_core.plugins.contracts import RegistryCredentials
from meshploy_core.registries.models import RegistryCredential

DOCKER_HUB = "docker.io"
_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
MAX_USERNAME = 255
MAX_PASSWORD = 16384


def registry_of(image: str) -> str:
    """The registry host (``host[:port]``) an image reference is pulled from.

    Docker's rule: the part before the first ``/`` is a registry when it contains a ``.`` or
    a ``:`` or is ``localhost``; otherwise the image is on Docker Hub.
    """
    first, sep, _ = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        host = first.lower()
        return DOCKER_HUB if host in _HUB_ALIASES else host
    return DOCKER_HUB


def normalize_server(raw: str) -> str:
    """``raw`` as a registry host (``host[:port]``), or ValidationFailed saying how to fix it.

    Accepts what people paste: a scheme (``https://ghcr.io``) and a trailing slash are
    dropped; Docker Hub's other names become ``docker.io``. A path is refused (credentials
    are per registry, not per repository).
    """
    value = raw.strip()
    for scheme in ("https://", "http://"):
        if value.lower().startswith(scheme):
            value = value[len(scheme) :]
    value = value.rstrip("/").lower()
    example = "like ghcr.io, registry.example.com:5000 or docker.io"
    if not value:
        raise ValidationFailed(f"server must be a registry host {example}")
    if "/" in value:
        raise ValidationFailed(
            f"server must be the registry host only, without a path ({value!r}): "
            f"use {value.split('/', 1)[0]!r}"
        )
    host, port = value, None
    if value.startswith("["):  # [IPv6]:port
        end = value.find("]")
        rest = value[end + 1 :]
        if end < 0 or (rest and not rest.startswith(":")):
            raise ValidationFailed(f"server {value!r} is not a valid host; use a host {example}")
        host, port = value[1:end], (rest[1:] if rest else None)
    elif value.count(":") == 1:
        host, port = value.split(":")
    if port is not None and not (port.isdigit() and 1 <= int(port) <= 65535):
        raise ValidationFailed(f"server {value!r} has an invalid port; use 1-65535")
    if not _valid_host(host):
        raise ValidationFailed(f"server {value!r} is not a valid host; use a host {example}")
    return DOCKER_HUB if value in _HUB_ALIASES else value


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return True
    if len(host) > 253:
        return False
    return all(_LABEL.match(label) for label in host.split("."))


def _check_username(username: str) -> str:
    value = username.strip()
    if not value or len(value) > MAX_USERNAME or any(ord(c) < 32 for c in value):
        raise ValidationFailed(
            f"username must be 1-{MAX_USERNAME} printable characters (the registry login)"
        )
    return value


def _check_password(password: str) -> str:
    if not password or len(password) > MAX_PASSWORD or "\x00" in password:
        # Never echo the value: it is a secret.
        raise ValidationFailed(
            f"password must be 1-{MAX_PASSWORD} characters without NUL (a password, an access "
            "token with permission to pull, or a JSON key file's content)"
        )
    return password


def _taken(server: str) -> Conflict:
    return Conflict(
        f"this organization already has credentials for {server}; update them instead "
        "(PATCH the existing entry) or delete them first"
    )


async def create_credential(
    session: AsyncSession,
    actor: Actor,
    org_id: uuid.UUID,
    *,
    server: str,
    username: str,
    password: str,
) -> RegistryCredential:
    """Store credentials for ``server`` (one entry per server in an organization)."""
    host = normalize_server(server)
    user = _check_username(username)
    secret = _check_password(password)
    exists = await session.scalar(
        select(RegistryCredential.id).where(
            RegistryCredential.org_id == org_id, RegistryCredential.server == host
        )
    )
    if exists is not None:
        raise _taken(host)
    now = utcnow()
    cred = RegistryCredential(
        id=uuid.uuid4(),
        org_id=org_id,
        server=host,
        username=user,
        password=secret,
        created_at=now,
        updated_at=now,
    )
    session.add(cred)
    try:
        await session.flush()
    except IntegrityError:
        raise _taken(host) from None
    await audit.record(
        session,
        actor,
        "registry_credential.create",
        "registry_credential",
        cred.id,
        org_id=org_id,
        details={"server": host, "username": user},
    )
    return cred


async def list_credentials(
    session: AsyncSession, org_id: uuid.UUID, page: PageRequest
) -> Page[RegistryCredential]:
    """The organization's registry credentials, oldest first."""
    query = select(RegistryCredential).where(RegistryCredential.org_id == org_id)
    return await fetch_page(
        session,
        query,
        [RegistryCredential.created_at, RegistryCredential.id],
        lambda c: (c.created_at, c.id),
        page,
    )


async def get_credential(
    session: AsyncSession, org_id: uuid.UUID, credential_id: uuid.UUID
) -> RegistryCredential:
    """One credential of ``org_id``; NotFound otherwise."""
    cred = await session.scalar(
        select(RegistryCredential).where(
            RegistryCredential.id == credential_id, RegistryCredential.org_id == org_id
        )
    )
    if cred is None:
        raise NotFound("no such registry credential in this organization")
    return cred


async def update_credential(
    session: AsyncSession,
    actor: Actor,
    org_id: uuid.UUID,
    credential_id: uuid.UUID,
    *,
    username: str | None = None,
    password: str | None = None,
) -> RegistryCredential:
    """Change the username and/or password (the server stays: delete and re-add to move)."""
    if username is None and password is None:
        raise ValidationFailed("give a new username, a new password, or both")
    cred = await get_credential(session, org_id, credential_id)
    changed = []
    if username is not None:
        cred.username = _check_username(username)
        changed.append("username")
    if password is not None:
        cred.password = _check_password(password)
        changed.append("password")
    cred.updated_at = utcnow()
    await session.flush()
    await audit.record(
        session,
        actor,
        "registry_credential.update",
        "registry_credential",
        cred.id,
        org_id=org_id,
        details={"server": cred.server, "changed": changed},
    )
    return cred


async def delete_credential(
    session: AsyncSession, actor: Actor, org_id: uuid.UUID, credential_id: uuid.UUID
) -> None:
    """Forget the credential; the next deploy of an affected service pulls anonymously."""
    cred = await get_credential(session, org_id, credential_id)
    await session.delete(cred)
    await audit.record(
        session,
        actor,
        "registry_credential.delete",
        "registry_credential",
        credential_id,
        org_id=org_id,
        details={"server": cred.server},
    )


async def credentials_for(
    session: AsyncSession, org_id: uuid.UUID, image: str
) -> RegistryCredentials | None:
    """The credentials ``image`` is pulled with in ``org_id``, or None (anonymous pull)."""
    cred = await session.scalar(
        select(RegistryCredential).where(
            RegistryCredential.org_id == org_id,
            RegistryCredential.server == registry_of(image),
        )
    )
    if cred is None:
        return None
    return RegistryCredentials(server=cred.server, username=cred.username, password=cred.password)
