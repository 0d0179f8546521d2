"""Service logs when Kubernetes is not there: a clear 503, and a bad cursor is a 422."""

from __future__ import annotations

from pathlib import Path

import pytest
from meshploy_testbed.postgres import free_port

from meshploy_core.settings import Settings
from tests.fixtures.api import ApiClient, World
from tests.fixtures.postgres import settings_for

KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- name: gone
  cluster:
    server: https://127.0.0.1:{port}
    insecure-skip-tls-verify: true
users:
- name: u
  user:
    token: not-a-real-token
contexts:
- name: c
  context: {{cluster: gone, user: u}}
current-context: c
"""


@pytest.fixture
def api_settings(database_url: str, tmp_path: Path) -> Settings:
    """The API pointed at a cluster address where nothing listens."""
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG.format(port=free_port()))
    return settings_for(database_url, MESHPLOY_BCRYPT_ROUNDS="4", KUBECONFIG=str(path))


async def test_unreachable_cluster_is_a_clear_503_and_a_bad_cursor_a_422(
    client: ApiClient, world: World
) -> None:
    owner = world.owner.token
    project = (
        await client.post(f"orgs/{world.org}/projects", token=owner, json={"name": "Shop"})
    ).ok(201)["id"]
    services = f"orgs/{world.org}/projects/{project}/services"
    svc = (
        await client.post(services, token=owner, json={"name": "api", "image": "nginx", "port": 80})
    ).ok(201)["id"]
    logs = f"{services}/{svc}/logs"
    gone = (await client.get(logs, token=owner)).problem(503)
    assert gone["detail"].startswith("Kubernetes API unreachable: "), gone
    assert "check that the cluster in the server's KUBECONFIG is up" in gone["detail"], gone
    bad = (await client.get(logs, token=owner, query={"after": "bm90LWEtY3Vyc29y"})).problem(422)
    assert "next_after of a previous answer" in bad["detail"], bad
