"""Images on a registry that requires a login, pulled for real with an image pull secret.

The test bed's second registry (``real_bed.auth_registry``, distribution with htpasswd
auth, plain HTTP) answers 401 with ``WWW-Authenticate: Basic`` until a valid login comes
along. containerd on the real node is told about it in ``certs.d`` like the open registry,
and gets the login only from the pod's ``kubernetes.io/dockerconfigjson`` Secret, which the
kubelet passes with the CRI pull request. Through Meshploy: a deploy without stored
credentials fails with the pull reason; once the organization stores the registry's login,
the reconciler puts it in the namespace's pull Secret and the next deploy runs and serves.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from meshploy_registries import credentials as registries
from meshploy_testbed.realnode import images
from meshploy_testbed.realnode.registry import AUTH_REALM

from meshploy_core.audit import SYSTEM
from meshploy_core.kube import manifests
from meshploy_core.kube.adapter import KubeAdapter
from meshploy_core.kube.rollout import Phase, RolloutVerdict, evaluate
from meshploy_core.kube.spec import HealthCheck, WorkloadSpec
from meshploy_core.testing.poll import eventually
from tests.fixtures.deploys import DOMAIN, DeployBed, new_bed
from tests.fixtures.proxy import start_proxy
from tests.fixtures.realnode import REAL_NODE, RealBed, timing

#: Real containers on the real-node cluster (``kube_cluster`` is that cluster here).
pytestmark = pytest.mark.realnode

HEALTH = HealthCheck(path="/healthz", period_seconds=1, timeout_seconds=1)


def _private_image(real_bed: RealBed) -> tuple[str, images.OciImage]:
    """A test app image of its own (version ``private-<hex>``, so a digest no other test
    pulls) pushed to the auth registry: no node has it, every pod of it must really pull
    it (with a login)."""
    version = f"private-{uuid.uuid4().hex[:8]}"
    image = images.test_app_image(version)
    return real_bed.push_private(image, f"private/{version}", "v1"), image


def _docker_config_secret(namespace: str, name: str, server: str, user: str, pw: str) -> Any:
    auth = base64.b64encode(f"{user}:{pw}".encode()).decode()
    config = {"auths": {server: {"username": user, "password": pw, "auth": auth}}}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/dockerconfigjson",
        "metadata": {"name": name, "namespace": namespace},
        "data": {".dockerconfigjson": base64.b64encode(json.dumps(config).encode()).decode()},
    }


def _containers(pod: Any) -> list[Any]:
    return list(pod["status"].get("containerStatuses") or [{"ready": False}])


async def _rollout(
    kube: KubeAdapter, namespace: str, image: str, pull_secret: str | None, timeout: float
) -> RolloutVerdict:
    """Apply the rendered service for ``image`` and wait until its rollout settles."""
    spec = WorkloadSpec(
        org_slug="acme",
        project_slug="web",
        namespace=namespace,
        service="private",
        image=image,
        port=images.APP_PORT,
        health_check=HEALTH,
        image_pull_secret=pull_secret,
        progress_deadline_seconds=120,
    )
    deployment_id = str(uuid.uuid4())
    for manifest in manifests.service_manifests(spec, deployment_id, {}):
        await kube.apply(manifest)

    async def settled() -> RolloutVerdict | None:
        deployment = await kube.get("apps/v1", "Deployment", spec.service, namespace)
        pods = await kube.list("v1", "Pod", namespace)
        verdict = evaluate(deployment, pods, deployment_id, datetime.now(UTC))
        return verdict if verdict.phase is not Phase.PROGRESSING else None

    verdict = await eventually(settled, timeout, f"the rollout of {image} to settle")
    assert verdict is not None
    return verdict


def test_auth_registry_requires_its_login(real_bed: RealBed) -> None:
    image, built = _private_image(real_bed)
    server, _, name = image.partition("/")
    repository, _, tag = name.partition(":")
    url = f"http://{server}/v2/{repository}/manifests/{tag}"
    accept = {"accept": images.MANIFEST_TYPE}
    login = real_bed.auth_registry_login
    assert server == real_bed.auth_registry != real_bed.registry

    anonymous = httpx.get(url, headers=accept, timeout=5.0)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == f'Basic realm="{AUTH_REALM}"'
    wrong = httpx.get(url, headers=accept, auth=(login.username, "wrong"), timeout=5.0)
    assert wrong.status_code == 401
    right = httpx.get(url, headers=accept, auth=(login.username, login.password), timeout=5.0)
    assert right.status_code == 200
    assert right.headers["docker-content-digest"] == built.digest
    # The open registry stays open.
    assert httpx.get(f"http://{real_bed.registry}/v2/", timeout=5.0).status_code == 200


async def test_node_pulls_a_private_image_only_with_a_pull_secret(
    real_bed: RealBed, kube_adapter: KubeAdapter, real_namespace: str
) -> None:
    image, _ = _private_image(real_bed)
    verdict = await _rollout(kube_adapter, real_namespace, image, None, 90)
    assert verdict.phase is Phase.FAILED and verdict.reason == "image_pull", verdict
    assert image in verdict.message and "401 Unauthorized" in verdict.message, verdict

    login = real_bed.auth_registry_login
    await kube_adapter.apply(
        _docker_config_secret(
            real_namespace, "regcred", real_bed.auth_registry, login.username, login.password
        )
    )
    started = time.monotonic()
    verdict = await _rollout(kube_adapter, real_namespace, image, "regcred", 90)
    timing("private image with a pull secret to rollout complete", time.monotonic() - started)
    assert verdict.phase is Phase.COMPLETE, verdict
    pods = await kube_adapter.list("v1", "Pod", real_namespace)
    (pod,) = [p for p in pods if all(c["ready"] for c in _containers(p))]
    assert pod["spec"]["nodeName"] == REAL_NODE
    assert pod["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
    (container,) = _containers(pod)
    assert container["imageID"].startswith(f"{image.rsplit(':', 1)[0]}@sha256:")


async def test_deploy_pulls_with_the_organizations_stored_credentials(
    real_bed: RealBed, bed: DeployBed, worker: object, tmp_path: Path
) -> None:
    image, built = _private_image(real_bed)
    version = image.split("/")[2].split(":")[0]  # host:port/private/<version>:v1
    login = real_bed.auth_registry_login
    sid = await bed.create_service("private", image=image, port=8080, health_check=HEALTH)

    # (a) Nothing stored for the registry: the real kubelet's pull is refused.
    failed = await bed.wait_status(await bed.deploy(sid), "healthy", "failed", timeout=120)
    assert failed.status == "failed"
    assert failed.reason is not None, failed
    assert f"image pull failed for {image}" in failed.reason, failed.reason
    assert "401 Unauthorized" in failed.reason, failed.reason

    # (b) The organization stores the login; the next deploy pulls with it and serves.
    async with bed.sessions() as s:
        await registries.create_credential(
            s,
            SYSTEM,
            bed.org.id,
            server=real_bed.auth_registry,
            username=login.username,
            password=login.password,
        )
        await s.commit()
    proxy = start_proxy(bed.settings.require_database_url(), tmp_path)
    try:
        started = time.monotonic()
        healthy = await bed.wait_status(await bed.deploy(sid), "healthy", "failed", timeout=120)
        assert healthy.status == "healthy", healthy.reason
        timing("private image, deploy request to healthy", time.monotonic() - started)
        host = f"private-web.{DOMAIN}"

        async def page() -> str | None:
            try:
                async with httpx.AsyncClient(timeout=5.0) as client:
                    url = f"http://127.0.0.1:{proxy.port}/"
                    r = await client.get(url, headers={"host": host})
            except httpx.HTTPError:
                return None
            return r.text if r.status_code == 200 and f"version={version}" in r.text else None

        await eventually(page, 60, f"the proxy to answer for {host} with version={version}")
        timing("private image, deploy request to first 200 via proxy", time.monotonic() - started)
    finally:
        proxy.stop()

    pods = await bed.kube.list("v1", "Pod", bed.namespace)
    (pod,) = [p for p in pods if all(c["ready"] for c in _containers(p))]
    assert pod["spec"]["nodeName"] == REAL_NODE
    (secret_ref,) = pod["spec"]["imagePullSecrets"]
    (container,) = _containers(pod)
    assert container["imageID"] == f"{image.rsplit(':', 1)[0]}@{built.digest}"
    secret = await bed.kube.get("v1", "Secret", secret_ref["name"], bed.namespace)
    assert secret is not None and secret["type"] == "kubernetes.io/dockerconfigjson"
    # The password reached the cluster only in that Secret, never a deployment's log.
    for dep in (failed, healthy):
        assert not any(login.password in line for line in await bed.log(dep.id))

    # (c) Another organization on the same node names the same image, now cached there,
    # without credentials: it must not run it (the pull policy makes the kubelet ask).
    other = await new_bed(bed.settings, bed.sessions, bed.kube, "Other")
    try:
        theirs = await other.create_service("copycat", image=image, port=8080)
        refused = await other.wait_status(
            await other.deploy(theirs), "healthy", "failed", timeout=120
        )
        assert refused.status == "failed", "ran a private image without its credentials"
        assert refused.reason is not None and "401 Unauthorized" in refused.reason, refused
    finally:
        await other.kube.delete("v1", "Namespace", other.namespace)
