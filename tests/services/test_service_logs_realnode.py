"""A service's logs, for real: the API server fetches each pod's output from the real kubelet
(:10250, authenticated with the API server's kubelet client certificate), and
``meshploy_core.kube.logs`` merges the pods' lines by time.

The test app writes ``meshploy test app <v> listening on port 8080`` to stdout when it starts
and busybox httpd logs two lines per request to stderr (``<client>: url:<path>`` and
``<client>: response:<status>``), so every pod's log has a start line, and requests sent to the
service's NodePort show up as lines whose ``time`` is later than the cursor taken before them.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import httpx
import pytest

from meshploy_core.deploys.reconciler import ReconcilerConfig
from meshploy_core.deploys.worker import run_worker
from meshploy_core.kube.adapter import KubeAdapter
from meshploy_core.kube.logs import LogLine, ServiceLogs, decode_cursor, service_logs
from meshploy_core.kube.spec import LABEL_SERVICE, HealthCheck, namespace_for
from meshploy_core.settings import Settings
from meshploy_core.testing.poll import eventually
from tests.fixtures.api import ApiClient, World
from tests.fixtures.deploys import DeployBed
from tests.fixtures.kube import KubeTestCluster
from tests.fixtures.postgres import settings_for
from tests.fixtures.realnode import RealBed, timing

#: Real containers on the real-node cluster (``kube_cluster`` is that cluster here).
pytestmark = pytest.mark.realnode

HEALTH = HealthCheck(path="/healthz", period_seconds=1, timeout_seconds=1)
START_LINE = "meshploy test app v1 listening on port 8080"
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")


@pytest.fixture
def api_settings(database_url: str, kube_cluster: KubeTestCluster) -> Settings:
    """The API's settings with the real-node cluster as its Kubernetes (``KUBECONFIG``)."""
    return settings_for(
        database_url, MESHPLOY_BCRYPT_ROUNDS="4", KUBECONFIG=str(kube_cluster.kubeconfig_path)
    )


async def _pod_names(kube: KubeAdapter, namespace: str, service: str) -> list[str]:
    pods = await kube.list("v1", "Pod", namespace, label_selector=f"{LABEL_SERVICE}={service}")
    return sorted(p["metadata"]["name"] for p in pods)


async def _node_port_url(real_bed: RealBed, kube: KubeAdapter, namespace: str, name: str) -> str:
    """``http://<node>:<NodePort>``, once kube-proxy forwards it (checked with ``/healthz``,
    the path the probes use, so the lines the tests count are not touched)."""
    svc = await kube.get("v1", "Service", name, namespace)
    assert svc is not None
    url = f"http://{real_bed.node.address}:{svc['spec']['ports'][0]['nodePort']}"

    async def answers() -> bool:
        try:
            async with httpx.AsyncClient(timeout=5.0) as http:
                return (await http.get(f"{url}/healthz")).status_code == 200
        except httpx.HTTPError:
            return False

    await eventually(answers, 30, f"GET {url}/healthz through kube-proxy")
    return url


async def _requests(url: str, count: int) -> None:
    async with httpx.AsyncClient(timeout=10.0) as http:
        for _ in range(count):
            response = await http.get(url)
            assert response.status_code == 200, response.text


def _count(lines: list[LogLine], path: str) -> int:
    return sum(1 for ln in lines if ln.message.endswith(f": url:{path}"))


def _keys(lines: list[LogLine]) -> set[tuple[str, str, str]]:
    return {(ln.pod, ln.time, ln.message) for ln in lines}


async def test_logs_of_every_pod_merged_by_time_and_only_newer_lines_after_the_cursor(
    real_bed: RealBed, bed: DeployBed, worker: object
) -> None:
    sid = await bed.create_service(
        "hello", image=real_bed.app_v1, port=8080, health_check=HEALTH, replicas=2
    )
    dep = await bed.wait_status(await bed.deploy(sid), "healthy", "failed", timeout=120)
    assert dep.status == "healthy", dep.reason
    pods = await _pod_names(bed.kube, bed.namespace, "hello")
    assert len(pods) == 2, pods

    # (a) The last 100 lines: each pod's start line, pods named, oldest first.
    started = time.monotonic()
    first = await service_logs(bed.kube, bed.namespace, "hello", tail=100)
    timing("service_logs of 2 pods (API server -> kubelet :10250)", time.monotonic() - started)
    assert first.unavailable == []
    assert sorted(ln.pod for ln in first.lines if ln.message == START_LINE) == pods, first.lines
    assert {ln.pod for ln in first.lines} == set(pods)
    times = [ln.time for ln in first.lines]
    assert all(TIME.match(t) for t in times), times
    assert times == sorted(times)
    # The readiness probes are requests too: httpd logged them on stderr.
    assert _count(first.lines, "/healthz") > 0, first.lines

    # (b) Requests after the cursor come back, nothing from before it does.
    url = await _node_port_url(real_bed, bed.kube, bed.namespace, "hello")
    assert _count(first.lines, "/") == 0
    cursor = first.positions
    assert set(cursor) == set(pods)
    await _requests(f"{url}/", 10)

    async def newer(after: dict[str, str], path: str, count: int) -> ServiceLogs | None:
        got = await service_logs(bed.kube, bed.namespace, "hello", tail=1000, positions=after)
        return got if _count(got.lines, path) >= count else None

    round1 = await eventually(
        lambda: newer(cursor, "/", 10), 30, "10 request lines after the cursor"
    )
    assert _count(round1.lines, "/") == 10, round1.lines
    assert all(ln.time > cursor[ln.pod] for ln in round1.lines)
    assert not _keys(round1.lines) & _keys(first.lines)
    assert START_LINE not in {ln.message for ln in round1.lines}
    assert [ln.time for ln in round1.lines] == sorted(ln.time for ln in round1.lines)

    cursor2 = round1.positions
    await _requests(f"{url}/index.html", 5)
    round2 = await eventually(
        lambda: newer(cursor2, "/index.html", 5), 30, "5 more request lines after the cursor"
    )
    assert _count(round2.lines, "/index.html") == 5, round2.lines
    assert _count(round2.lines, "/") == 0, round2.lines  # the first round is not repeated
    assert all(ln.time > cursor2[ln.pod] for ln in round2.lines)
    assert not _keys(round2.lines) & (_keys(round1.lines) | _keys(first.lines))


async def _project(client: ApiClient, world: World) -> str:
    reply = await client.post(
        f"orgs/{world.org}/projects", token=world.owner.token, json={"name": "Shop", "slug": "shop"}
    )
    project_id: str = reply.ok(201)["id"]
    return project_id


async def _wait_healthy(client: ApiClient, world: World, dep: str) -> None:
    async def done() -> Any:
        body = (
            await client.get(f"orgs/{world.org}/deployments/{dep}", token=world.owner.token)
        ).ok()
        return body if body["status"] not in ("queued", "deploying") else None

    body = await eventually(done, 120, f"deployment {dep} to finish")
    assert body["status"] == "healthy", body


async def test_logs_endpoint_reads_the_real_pods_and_is_for_developers_and_up(
    real_bed: RealBed,
    client: ApiClient,
    world: World,
    api_settings: Settings,
    kube_adapter: KubeAdapter,
) -> None:
    stop = asyncio.Event()
    worker = asyncio.create_task(
        run_worker(api_settings, stop, interval=0.2, config=ReconcilerConfig(drift_interval=0.5))
    )
    try:
        project = await _project(client, world)
        base = f"orgs/{world.org}/projects/{project}/services"
        svc = (
            await client.post(
                base,
                token=world.owner.token,
                json={
                    "name": "api",
                    "image": real_bed.app_v1,
                    "port": 8080,
                    "replicas": 2,
                    "health_check": {"path": "/healthz", "period_seconds": 1},
                },
            )
        ).ok(201)
        dep = (
            await client.post(f"{base}/{svc['id']}/deploy", token=world.owner.token, json={})
        ).ok(202)
        await _wait_healthy(client, world, dep["id"])
    finally:
        stop.set()
        await asyncio.wait_for(worker, 30)

    namespace = namespace_for("shop", project.replace("-", ""))
    pods = await _pod_names(kube_adapter, namespace, "api")
    assert len(pods) == 2, pods
    logs = f"{base}/{svc['id']}/logs"
    developer = world.members["developer"].token
    page = (await client.get(logs, token=developer, query={"tail": "100"})).ok()
    assert page["unavailable"] == []
    starts = [i["pod"] for i in page["items"] if i["message"] == START_LINE]
    assert sorted(starts) == pods, page["items"]
    times = [i["time"] for i in page["items"]]
    assert times == sorted(times) and all(TIME.match(t) for t in times)
    reached = decode_cursor(page["next_after"])
    assert reached == {p: max(i["time"] for i in page["items"] if i["pod"] == p) for p in pods}

    url = await _node_port_url(real_bed, kube_adapter, namespace, "api")
    await _requests(f"{url}/index.html", 3)

    async def newer() -> Any:
        got = (await client.get(logs, token=developer, query={"after": page["next_after"]})).ok()
        urls = [i for i in got["items"] if i["message"].endswith(": url:/index.html")]
        return got if len(urls) >= 3 else None

    later = await eventually(newer, 30, "the 3 request lines through the API")
    assert all(i["time"] > reached[i["pod"]] for i in later["items"])
    assert START_LINE not in {i["message"] for i in later["items"]}
    assert (
        decode_cursor(later["next_after"])[later["items"][-1]["pod"]] == later["items"][-1]["time"]
    )
    assert later["unavailable"] == []

    viewer = await client.get(logs, token=world.members["viewer"].token)
    viewer.problem(403)
    outsider = await client.get(logs, token=world.outsider.token)
    assert outsider.status in (403, 404), outsider.text


async def test_following_under_load_returns_every_line_exactly_once(
    real_bed: RealBed, bed: DeployBed, worker: object
) -> None:
    """Two pods logging concurrently while the cursor is followed: nothing lost, nothing twice.

    (With one "last time" cursor instead of a position per pod, this lost about 12% of the
    lines: a pod read first kept writing lines stamped before the other pod's newest one.)
    """
    sid = await bed.create_service(
        "busy", image=real_bed.app_v1, port=8080, health_check=HEALTH, replicas=2
    )
    dep = await bed.wait_status(await bed.deploy(sid), "healthy", "failed", timeout=120)
    assert dep.status == "healthy", dep.reason
    url = await _node_port_url(real_bed, bed.kube, bed.namespace, "busy")
    start = (await service_logs(bed.kube, bed.namespace, "busy", tail=1)).positions
    cursor = dict(start)
    followed: list[LogLine] = []
    stop = asyncio.Event()

    async def load() -> int:
        sent = 0
        async with httpx.AsyncClient(timeout=5) as http:
            while not stop.is_set():
                await http.get(f"{url}/index.html")
                sent += 1
        return sent

    loaders = [asyncio.create_task(load()) for _ in range(4)]
    until = time.monotonic() + 5
    while time.monotonic() < until:
        got = await service_logs(bed.kube, bed.namespace, "busy", tail=5000, positions=cursor)
        followed += got.lines
        cursor = got.positions
    stop.set()
    sent = sum(await asyncio.gather(*loaders))

    async def caught_up() -> set[tuple[str, str, str]] | None:
        nonlocal cursor
        got = await service_logs(bed.kube, bed.namespace, "busy", tail=5000, positions=cursor)
        followed.extend(got.lines)
        cursor = got.positions
        everything = await service_logs(
            bed.kube, bed.namespace, "busy", tail=100_000, positions=start
        )
        want = _keys(everything.lines)
        requests = sum(1 for line in everything.lines if line.message.endswith("url:/index.html"))
        return want if requests >= sent and want <= _keys(followed) else None

    want = await eventually(caught_up, 30, "the follower to have every line")
    assert len(followed) == len(_keys(followed)), "a line came twice"
    assert _keys(followed) == want
    assert sent > 100, f"only {sent} requests: the test did not load the pods"
