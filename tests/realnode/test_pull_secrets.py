"""Images on a registry that requires a login, pulled for real with an image pull secret.

The test bed's second registry (``real_bed.auth_registry``, distribution with htpasswd
auth, plain HTTP) answers 401 with ``WWW-Authenticate: Basic`` until a valid login comes
along. containerd on the real node is told about it in ``certs.d`` like the open registry,
and gets the login only from the pod's ``kubernetes.io/dockerconfigjson`` Secret, which the
kubelet passes with the CRI pull request.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from meshploy_core.devcluster import images
from meshploy_core.devcluster.registry import AUTH_REALM
from meshploy_core.kube import manifests
from meshploy_core.kube.adapter import KubeAdapter
from meshploy_core.kube.rollout import Phase, RolloutVerdict, evaluate
from meshploy_core.kube.spec import HealthCheck, WorkloadSpec
from tests.fixtures.kube import wait_for
from tests.fixtures.realnode import REAL_NODE, RealBed, timing

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

    verdict = await wait_for(settled, timeout, f"the rollout of {image} to settle")
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
