"""A variable group change on the test cluster: the services using it roll with the new
values as a recorded deployment, and rolling back to the earlier deployment restores the
old values."""

from __future__ import annotations

import base64
from typing import Any

from meshploy_core.audit import SYSTEM
from meshploy_core.services import catalog
from meshploy_core.variables import groups
from tests.fixtures.deploys import DeployBed


async def _env(bed: DeployBed) -> dict[str, str]:
    live = await bed.kube.get("apps/v1", "Deployment", "api", bed.namespace)
    assert live is not None
    name = live["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]["secretRef"]["name"]
    secret: dict[str, Any] | None = await bed.kube.get("v1", "Secret", name, bed.namespace)
    assert secret is not None
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


async def test_a_group_change_rolls_and_a_rollback_restores_the_old_values(
    bed: DeployBed, worker: object
) -> None:
    async with bed.sessions() as s:
        group = await groups.create_group(
            s, SYSTEM, bed.org.id, None, "shared", {"DB_HOST": "db-1", "MODE": "group"}
        )
        await s.commit()
    sid = await bed.create_service("api", env={"MODE": "own"})
    async with bed.sessions() as s:
        service = await catalog.get_service(s, bed.project, sid)
        await groups.set_service_groups(s, SYSTEM, bed.project, service, ["shared"])
        await s.commit()
    first = await bed.wait_status(await bed.deploy(sid), "healthy", "failed")
    assert first.status == "healthy", first.reason
    assert await _env(bed) == {"DB_HOST": "db-1", "MODE": "own"}

    async with bed.sessions() as s:
        stored = await groups.get_group(s, bed.org.id, group.id)
        [queued] = await groups.update_group(
            s, SYSTEM, stored, values={"DB_HOST": "db-2"}, unset=[]
        )
        await s.commit()
    second = await bed.wait_status(queued.id, "healthy", "failed")
    assert second.status == "healthy", second.reason
    assert await _env(bed) == {"DB_HOST": "db-2", "MODE": "own"}
    assert any("variable group shared changed" in line for line in await bed.log(second.id))

    back = await bed.wait_status(await bed.rollback(sid, first.id), "healthy", "failed")
    assert back.status == "healthy", back.reason
    assert await _env(bed) == {"DB_HOST": "db-1", "MODE": "own"}
