"""Private registries on the test cluster: the stored credentials become the image pull
Secret of the services whose image is on that registry, follow password changes in place,
and go away when the credentials do. (The real kubelet pulling with them: tests/realnode.)"""

from __future__ import annotations

import base64
import json
from typing import Any

from meshploy_registries import credentials as registries

from meshploy_core.audit import SYSTEM
from meshploy_core.kube.manifests import pull_secret_name
from tests.fixtures.deploys import DeployBed

IMAGE = "registry.example.com:5000/acme/api:1"


async def _pod_spec(bed: DeployBed, name: str) -> dict[str, Any]:
    live = await bed.kube.get("apps/v1", "Deployment", name, bed.namespace)
    assert live is not None
    spec: dict[str, Any] = live["spec"]["template"]["spec"]
    return spec


async def _docker_config(bed: DeployBed, name: str) -> dict[str, Any] | None:
    secret = await bed.kube.get("v1", "Secret", pull_secret_name(name), bed.namespace)
    if secret is None:
        return None
    assert secret["type"] == "kubernetes.io/dockerconfigjson"
    config: dict[str, Any] = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))
    return config


async def test_credentials_follow_the_image_registry(bed: DeployBed, worker: object) -> None:
    async with bed.sessions() as s:
        cred = await registries.create_credential(
            s,
            SYSTEM,
            bed.org.id,
            server="https://registry.example.com:5000",
            username="deployer",
            password="first-password",
        )
        await s.commit()
    private = await bed.create_service("api", image=IMAGE)
    public = await bed.create_service("web", image="nginx:1.27")
    for sid in (private, public):
        dep = await bed.wait_status(await bed.deploy(sid), "healthy", "failed")
        assert dep.status == "healthy", dep.reason

    spec = await _pod_spec(bed, "api")
    assert spec["imagePullSecrets"] == [{"name": pull_secret_name("api")}]
    config = await _docker_config(bed, "api")
    assert config is not None
    entry = config["auths"]["registry.example.com:5000"]
    assert entry["username"] == "deployer" and entry["password"] == "first-password"
    assert base64.b64decode(entry["auth"]).decode() == "deployer:first-password"
    # An image on another registry gets nothing.
    assert "imagePullSecrets" not in await _pod_spec(bed, "web")
    assert await _docker_config(bed, "web") is None

    # A new password is used by the next deploy, in place (same Secret, no new name).
    async with bed.sessions() as s:
        await registries.update_credential(
            s, SYSTEM, bed.org.id, cred.id, password="second-password"
        )
        await s.commit()
    dep = await bed.wait_status(await bed.deploy(private), "healthy", "failed")
    assert dep.status == "healthy", dep.reason
    config = await _docker_config(bed, "api")
    assert config is not None
    assert config["auths"]["registry.example.com:5000"]["password"] == "second-password"
    assert (await _pod_spec(bed, "api"))["imagePullSecrets"] == [{"name": pull_secret_name("api")}]

    # Deleted credentials: the next deploy pulls anonymously and the copy is gone.
    async with bed.sessions() as s:
        await registries.delete_credential(s, SYSTEM, bed.org.id, cred.id)
        await s.commit()
    dep = await bed.wait_status(await bed.deploy(private), "healthy", "failed")
    assert dep.status == "healthy", dep.reason
    assert "imagePullSecrets" not in await _pod_spec(bed, "api")
    assert await _docker_config(bed, "api") is None


async def test_docker_hub_credentials_use_the_index_key(bed: DeployBed, worker: object) -> None:
    async with bed.sessions() as s:
        await registries.create_credential(
            s, SYSTEM, bed.org.id, server="docker.io", username="hubber", password="hub-token"
        )
        await s.commit()
    sid = await bed.create_service("api", image="acme/private-api:3")
    dep = await bed.wait_status(await bed.deploy(sid), "healthy", "failed")
    assert dep.status == "healthy", dep.reason
    config = await _docker_config(bed, "api")
    assert config is not None
    assert config["auths"]["https://index.docker.io/v1/"]["username"] == "hubber"
