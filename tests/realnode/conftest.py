"""Real-node tests: the session's real-node cluster stands in for ``kube_cluster`` here, so
the deploy fixtures (``bed``, ``worker``, ``kube_adapter`` from tests/deploys) deploy onto
a node that really runs the containers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from meshploy_core.kube.adapter import KubeAdapter
from tests.deploys.conftest import bed, kube_adapter, worker
from tests.fixtures.kube import KubeTestCluster, wait_for
from tests.fixtures.realnode import RealBed

__all__ = ["bed", "kube_adapter", "worker"]  # fixtures re-used from tests/deploys


@pytest.fixture
def kube_cluster(real_bed: RealBed) -> KubeTestCluster:
    """The real-node cluster, for the deploy fixtures."""
    return KubeTestCluster(real_bed.cluster.kubeconfig_path, real_bed.cluster)


@pytest.fixture
async def real_namespace(kube_adapter: KubeAdapter) -> AsyncIterator[str]:
    """A fresh namespace on the real-node cluster, deleted (with its pods) afterwards."""
    name = f"rt-{uuid.uuid4().hex[:10]}"
    await kube_adapter.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})

    async def service_account() -> object:
        return await kube_adapter.get("v1", "ServiceAccount", "default", name)

    await wait_for(service_account, 30, f"ServiceAccount default in {name}")
    yield name
    await kube_adapter.delete("v1", "Namespace", name)
