"""The whole path, for real: Meshploy deploys an image, the kubelet runs it, the edge proxy
routes a request with the service's hostname to the container.

The reconciler (tests/deploys' ``bed`` and ``worker``) writes the route from what the real
kubelet reports; ``meshploy_proxy`` runs as a subprocess on this test's database and
forwards by Host header to ``<real node address>:<NodePort>``; kube-proxy carries it to the
pod. A request loop runs through every rollout and must never see a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx
import pytest

from meshploy_core.kube.spec import HealthCheck
from meshploy_core.testing.poll import eventually
from tests.fixtures.deploys import DOMAIN, DeployBed
from tests.fixtures.proxy import ProxyProcess, start_proxy
from tests.fixtures.realnode import RealBed, timing

#: Real containers on the real-node cluster (``kube_cluster`` is that cluster here).
pytestmark = pytest.mark.realnode

HEALTH = HealthCheck(path="/healthz", period_seconds=1, timeout_seconds=1)
HOST = f"hello-web.{DOMAIN}"
LOOP_LIMIT = 240.0  # seconds; the loop stops by itself whatever happens


@dataclass
class Traffic:
    """Requests through the proxy in a loop, one after another, counting every answer."""

    proxy: ProxyProcess
    host: str = HOST
    answers: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    last: str = ""
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Traffic:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        url = f"http://127.0.0.1:{self.proxy.port}/"
        deadline = time.monotonic() + LOOP_LIMIT
        async with httpx.AsyncClient(timeout=10.0) as client:
            while not self._stop.is_set() and time.monotonic() < deadline:
                try:
                    response = await client.get(url, headers={"host": self.host})
                except httpx.HTTPError as exc:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                    continue
                if response.status_code != 200:
                    self.failures.append(f"HTTP {response.status_code}: {response.text[:200]}")
                    continue
                self.last = response.text
                self.answers[_summary(response.text)] += 1
                await asyncio.sleep(0.02)  # pacing, about 40 requests a second

    async def until(self, needle: str, timeout: float = 60) -> None:
        """Wait until the latest answer contains ``needle``."""

        async def seen() -> bool:
            assert self._task is not None and not self._task.done(), "the request loop stopped"
            return needle in self.last

        await eventually(seen, timeout, f"an answer containing {needle!r} (answers {self.answers})")


def _summary(page: str) -> str:
    lines = [line for line in page.splitlines() if "version=" in line or "GREETING=" in line]
    return " ".join(line.removeprefix("<p>").removesuffix("</p>") for line in lines)


async def _first_page(proxy: ProxyProcess, needle: str) -> str:
    async def page() -> str | None:
        try:
            async with httpx.AsyncClient(timeout=5.0) as client:
                r = await client.get(f"http://127.0.0.1:{proxy.port}/", headers={"host": HOST})
        except httpx.HTTPError:
            return None
        return r.text if r.status_code == 200 and needle in r.text else None

    return await eventually(page, 60, f"the proxy to answer for {HOST} with {needle!r}")


@contextlib.contextmanager
def _proxy(bed: DeployBed, out: Path) -> Iterator[ProxyProcess]:
    proxy = start_proxy(bed.settings.require_database_url(), out)
    try:
        yield proxy
    finally:
        proxy.stop()


async def test_deploy_update_rollback_and_env_change_through_the_proxy(
    real_bed: RealBed, bed: DeployBed, worker: object, tmp_path: Path
) -> None:
    with _proxy(bed, tmp_path) as proxy:
        sid = await bed.create_service(
            "hello",
            image=real_bed.app_v1,
            port=8080,
            health_check=HEALTH,
            env={"GREETING": "hello"},
        )
        started = time.monotonic()
        v1 = await bed.wait_status(await bed.deploy(sid), "healthy", "failed", timeout=120)
        assert v1.status == "healthy", v1.reason
        timing("deploy request to healthy (real kubelet readiness)", time.monotonic() - started)
        page = await _first_page(proxy, "version=v1")
        timing("deploy request to first 200 through the proxy", time.monotonic() - started)
        assert "GREETING=hello" in page
        route = await bed.route(HOST)
        assert route is not None
        assert [u["host"] for u in route.upstreams] == [real_bed.node.address]

        async with Traffic(proxy) as traffic:
            await traffic.until("version=v1")
            started = time.monotonic()
            v2 = await bed.wait_status(
                await bed.deploy(sid, image=real_bed.app_v2), "healthy", "failed", timeout=120
            )
            assert v2.status == "healthy", v2.reason
            await traffic.until("version=v2")
            timing("v1 -> v2 deploy request to v2 answering", time.monotonic() - started)

            back = await bed.wait_status(
                await bed.rollback(sid, v1.id), "healthy", "failed", timeout=120
            )
            assert back.status == "healthy" and back.rollback_of == v1.id, back.reason
            await traffic.until("version=v1")

            await bed.set_env(sid, {"GREETING": "bonjour"})
            changed = await bed.wait_status(await bed.deploy(sid), "healthy", "failed", timeout=120)
            assert changed.status == "healthy", changed.reason
            await traffic.until("GREETING=bonjour")
            # Let the replaced pod finish terminating while requests keep flowing.
            await eventually(lambda: _pods_settled(bed), 60, "the old pods to be gone")

        assert traffic.failures == [], (
            f"{len(traffic.failures)} failed requests during the rollouts "
            f"(answers {dict(traffic.answers)}): {traffic.failures[:5]}"
        )
        assert sum(traffic.answers.values()) > 50, traffic.answers
        assert traffic.answers["version=v2 GREETING=hello"] > 0, traffic.answers
        # A deploy after a rollback runs the service's configured image (v2) again.
        assert traffic.answers["version=v2 GREETING=bonjour"] > 0, traffic.answers


async def _pods_settled(bed: DeployBed) -> bool:
    pods = await bed.kube.list("v1", "Pod", bed.namespace)
    return len(pods) == 1 and not pods[0]["metadata"].get("deletionTimestamp")


async def test_crash_looping_image_fails_the_deploy_with_the_kubelets_reason(
    real_bed: RealBed, bed: DeployBed, worker: object
) -> None:
    # With a health check, as services normally have: without one, Kubernetes counts the
    # container available the moment it starts, before it first exits (see docs/realnode.md).
    sid = await bed.create_service(
        "crash", image=real_bed.crashloop, port=8080, health_check=HEALTH
    )
    dep = await bed.wait_status(await bed.deploy(sid), "healthy", "failed", timeout=120)
    assert dep.status == "failed"
    assert dep.reason and "crash-looping" in dep.reason and "last exit code 1" in dep.reason
    log = await bed.log(dep.id)
    assert any("crash-looping" in line for line in log), log
