"""Registry credentials (``/api/v1/orgs/{org}/registry-credentials``): logins for private
container registries, used to pull the images of the organization's services.

The password goes in and never comes out: lists and answers show the server, the username
and when it changed. Admins manage them; every member can see which registries have one.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from quart import Blueprint
from quart_schema import validate_querystring, validate_request, validate_response

from meshploy_core.authorization.policy import requires
from meshploy_core.registries.models import RegistryCredential
from meshploy_core.web.context import actor, db
from meshploy_core.web.fields import NO_CONTROL
from meshploy_core.web.openapi import destructive, no_content
from meshploy_core.web.pagination import Page, PageQuery, page_of, page_request
from meshploy_registries import credentials as registries

bp = Blueprint("registries", __name__, url_prefix="/api/v1/orgs/<uuid:org_id>")

Server = Annotated[
    str,
    Field(
        min_length=1,
        max_length=300,
        pattern=NO_CONTROL,
        description="Registry host, optionally with a port: ghcr.io, registry.example.com:5000, "
        "docker.io (Docker Hub). A scheme such as https:// is ignored.",
        examples=["ghcr.io"],
    ),
]
Username = Annotated[
    str, Field(min_length=1, max_length=registries.MAX_USERNAME, pattern=NO_CONTROL)
]
RegistryPassword = Annotated[
    str,
    Field(
        min_length=1,
        max_length=registries.MAX_PASSWORD,
        description="Password or access token with permission to pull. Write-only.",
    ),
]


class RegistryCredentialIn(BaseModel):
    """Credentials for one registry."""

    model_config = ConfigDict(extra="forbid")

    server: Server
    username: Username
    password: RegistryPassword


class RegistryCredentialPatch(BaseModel):
    """A new username and/or password (the server cannot change: add another entry)."""

    model_config = ConfigDict(extra="forbid")

    username: Username | None = None
    password: RegistryPassword | None = None


class RegistryCredentialOut(BaseModel):
    """A stored credential: never its password."""

    id: uuid.UUID
    server: str
    username: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, cred: RegistryCredential) -> RegistryCredentialOut:
        """From the row."""
        return cls(
            id=cred.id,
            server=cred.server,
            username=cred.username,
            created_at=cred.created_at,
            updated_at=cred.updated_at,
        )


@bp.get("/registry-credentials")
@requires("registry:read")
@validate_querystring(PageQuery)
@validate_response(Page[RegistryCredentialOut])
async def list_registry_credentials(
    org_id: uuid.UUID, query_args: PageQuery
) -> Page[RegistryCredentialOut]:
    """The registries this organization has credentials for (never the passwords)."""
    result = await registries.list_credentials(db(), org_id, page_request(query_args))
    return page_of(result, RegistryCredentialOut.of)


@bp.post("/registry-credentials")
@requires("registry:write")
@destructive
@validate_request(RegistryCredentialIn)
@validate_response(RegistryCredentialOut, 201)
async def create_registry_credential(
    org_id: uuid.UUID, data: RegistryCredentialIn
) -> tuple[RegistryCredentialOut, int]:
    """Store credentials for a private registry (its images are pulled with them).

    Services whose image is on that registry use them from their next deploy on.
    """
    session = db()
    cred = await registries.create_credential(
        session,
        actor(),
        org_id,
        server=data.server,
        username=data.username,
        password=data.password,
    )
    await session.commit()
    return RegistryCredentialOut.of(cred), 201


@bp.patch("/registry-credentials/<uuid:credential_id>")
@requires("registry:write")
@destructive
@validate_request(RegistryCredentialPatch)
@validate_response(RegistryCredentialOut)
async def update_registry_credential(
    org_id: uuid.UUID, credential_id: uuid.UUID, data: RegistryCredentialPatch
) -> RegistryCredentialOut:
    """Change the username and/or password (used from the next deploy or rollback on)."""
    session = db()
    cred = await registries.update_credential(
        session,
        actor(),
        org_id,
        credential_id,
        username=data.username,
        password=data.password,
    )
    await session.commit()
    return RegistryCredentialOut.of(cred)


@bp.delete("/registry-credentials/<uuid:credential_id>")
@requires("registry:write")
@no_content
async def delete_registry_credential(
    org_id: uuid.UUID, credential_id: uuid.UUID
) -> tuple[str, int]:
    """Forget the credentials; later deploys pull that registry's images anonymously."""
    session = db()
    await registries.delete_credential(session, actor(), org_id, credential_id)
    await session.commit()
    return "", 204
