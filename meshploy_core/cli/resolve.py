"""Names to ids: the CLI addresses organizations and projects by slug, services by name.

An id (a UUID) is used as given; anything else is looked up through the list operations
(the services list answers ``?name=`` directly).
"""

from __future__ import annotations

import uuid

from meshploy_core.client import credentials
from meshploy_core.client.errors import ApiError, NotConfigured
from meshploy_core.client.http import ApiClient


def is_uuid(text: str) -> bool:
    """Whether ``text`` is a UUID (then it is an id, not a name)."""
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


async def org_id(client: ApiClient, conn: credentials.Connection, ref: str | None) -> str:
    """The organization ``ref`` names (id or slug), else the configured default, else the
    caller's only organization."""
    ref = ref or conn.org_id
    if ref and is_uuid(ref):
        return ref
    try:
        if ref:
            async for org in client.pages("list_orgs", {}):
                if ref in (org["slug"], org["name"]):
                    return str(org["id"])
            raise NotConfigured(f"you are in no organization {ref!r} (see: meshploy org list)")
        orgs = [org async for org in client.pages("list_orgs", {}, limit=2)]
    except ApiError as exc:
        if exc.status != 403:
            raise
        raise NotConfigured(
            "no organization: pass --org ID or set MESHPLOY_ORG_ID (this token cannot list "
            "organizations)"
        ) from None
    if len(orgs) == 1:
        return str(orgs[0]["id"])
    raise NotConfigured(
        "no organization chosen: pass --org, set MESHPLOY_ORG_ID, or run: meshploy org use ORG"
    )


async def project_id(client: ApiClient, org: str, ref: str) -> str:
    """The project ``ref`` names (id or slug) in ``org``."""
    if is_uuid(ref):
        return ref
    async for project in client.pages("list_projects", {"org_id": org}):
        if project["slug"] == ref:
            return str(project["id"])
    raise NotConfigured(f"no project {ref!r} in this organization (see: meshploy project list)")


async def service_id(client: ApiClient, org: str, project: str, ref: str) -> str:
    """The service ``ref`` names (id or name) in ``project``."""
    if is_uuid(ref):
        return ref
    page = await client.list_services(org_id=org, project_id=project, name=ref)
    if page["items"]:
        return page["items"][0]["id"]
    raise NotConfigured(
        f"no service {ref!r} in this project (see: meshploy service list --project P)"
    )


async def job_id(client: ApiClient, org: str, project: str, ref: str) -> str:
    """The job ``ref`` names (id or name) in ``project``."""
    if is_uuid(ref):
        return ref
    page = await client.list_jobs(org_id=org, project_id=project, name=ref)
    if page["items"]:
        return page["items"][0]["id"]
    raise NotConfigured(f"no job {ref!r} in this project (see: meshploy job list --project P)")


async def group_id(client: ApiClient, org: str, ref: str) -> str:
    """The variable group ``ref`` names (id or name) in ``org``."""
    if is_uuid(ref):
        return ref
    page = await client.list_variable_groups(org_id=org, name=ref)
    if page["items"]:
        return page["items"][0]["id"]
    raise NotConfigured(f"no variable group {ref!r} (see: meshploy variable-group list)")
