"""Proof that the dev cluster is a real Kubernetes control plane.

The API server, controllers and scheduler are upstream's; kwok stands in for kubelets.
Every wait polls (or watches) with a deadline; every failure says what it got.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from kubernetes.aio import client as kclient
from kubernetes.aio import watch as kwatch
from meshploy_testbed.cluster import GoToolchainMissingError, ensure_binaries
from meshploy_testbed.cluster.cli import cluster as cluster_cli
from meshploy_testbed.cluster.processes import process_start_time

from meshploy_core.testing.poll import eventually
from tests.fixtures.kube import (
    BUILDER_NODE,
    WORKER_NODES,
    KubeClients,
    KubeTestCluster,
)

pytestmark = pytest.mark.integration

ALL_NODES = {*WORKER_NODES, BUILDER_NODE}


def deployment(name: str, image: str, replicas: int, **pod_spec: Any) -> dict[str, Any]:
    """A Deployment manifest with maxUnavailable 0, like the ones Meshploy renders."""
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": image}], **pod_spec},
            },
        },
    }


def pod(name: str, **spec: Any) -> dict[str, Any]:
    """A bare pod manifest."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"containers": [{"name": "app", "image": "images.meshploy.test/app:1"}], **spec},
    }


def rolled_out(dep: Any, replicas: int) -> bool:
    """True when the Deployment controller reports the rollout complete."""
    st = dep.status
    return bool(
        st is not None
        and (st.observed_generation or 0) >= (dep.metadata.generation or 0)
        and st.updated_replicas == replicas
        and st.ready_replicas == replicas
        and st.available_replicas == replicas
        and (st.replicas or 0) == replicas
    )


def pod_condition(p: Any, kind: str) -> Any:
    return next((c for c in (p.status.conditions or []) if c.type == kind), None)


async def watch_until(
    list_func: Any,
    namespace: str,
    name: str,
    done: Callable[[str, Any], bool],
    timeout: float,
    message: str,
    resource_version: str,
) -> list[tuple[str, Any]]:
    """Watch one object's changes after ``resource_version``, up to the event ``done`` accepts.

    Starting from a resource version read before acting means no event can be missed.
    """
    events: list[tuple[str, Any]] = []

    async def follow() -> None:
        async with kwatch.Watch() as w:  # type: ignore[no-untyped-call]
            stream: AsyncIterator[dict[str, Any]] = w.stream(
                list_func,
                namespace,
                field_selector=f"metadata.name={name}",
                resource_version=resource_version,
                timeout_seconds=int(timeout) + 5,
            )
            async for event in stream:
                events.append((event["type"], event["object"]))
                if done(event["type"], event["object"]):
                    return

    try:
        await asyncio.wait_for(follow(), timeout)
    except TimeoutError:
        last = [(kind, getattr(obj, "status", None)) for kind, obj in events[-2:]]
        pytest.fail(f"timed out after {timeout:.0f}s: {message}; last events got {last}")
    return events


async def test_deployment_rolls_out_to_ready_replicas(
    kube_api: kclient.ApiClient, kube_namespace: str
) -> None:
    k = KubeClients.of(kube_api)
    apps, core = k.apps, k.core
    await apps.create_namespaced_deployment(
        kube_namespace, deployment("web", "images.meshploy.test/web:1", 3)
    )

    async def done() -> bool:
        return rolled_out(await apps.read_namespaced_deployment("web", kube_namespace), 3)

    await eventually(done, 60, "deployment web to roll out 3 ready replicas")
    pods = (await core.list_namespaced_pod(kube_namespace, label_selector="app=web")).items
    assert len(pods) == 3, f"pods: got {len(pods)}, want 3"
    for p in pods:
        assert p.spec.node_name in ALL_NODES, f"node of {p.metadata.name}: got {p.spec.node_name}"
        assert p.status.phase == "Running", f"phase: got {p.status.phase}, want Running"
        ready = pod_condition(p, "Ready")
        assert ready is not None and ready.status == "True", f"Ready: got {ready}, want True"
        assert p.status.pod_ip, f"podIP of {p.metadata.name}: got {p.status.pod_ip!r}, want one"


async def test_rolling_update_keeps_replicas_available(
    kube_api: kclient.ApiClient, kube_namespace: str
) -> None:
    apps = KubeClients.of(kube_api).apps
    await apps.create_namespaced_deployment(
        kube_namespace, deployment("api", "images.meshploy.test/api:1", 2)
    )

    async def first() -> bool:
        return rolled_out(await apps.read_namespaced_deployment("api", kube_namespace), 2)

    await eventually(first, 60, "deployment api v1 to roll out")

    before = await apps.read_namespaced_deployment("api", kube_namespace)
    watching = asyncio.create_task(
        watch_until(
            apps.list_namespaced_deployment,
            kube_namespace,
            "api",
            lambda _kind, dep: (
                dep.spec.template.spec.containers[0].image.endswith(":2") and rolled_out(dep, 2)
            ),
            90,
            "rollout of api:2",
            before.metadata.resource_version,
        )
    )
    patch = {
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "app", "image": "images.meshploy.test/api:2"}]}
            }
        }
    }
    await apps.patch_namespaced_deployment("api", kube_namespace, patch)
    events = await watching

    available = [dep.status.available_replicas or 0 for _, dep in events if dep.status]
    assert min(available) >= 2, f"available replicas during rollout: got {available}, want >= 2"
    sets = (await apps.list_namespaced_replica_set(kube_namespace, label_selector="app=api")).items
    by_image = {rs.spec.template.spec.containers[0].image: rs for rs in sets}
    assert set(by_image) == {"images.meshploy.test/api:1", "images.meshploy.test/api:2"}, (
        f"ReplicaSet images: got {sorted(by_image)}, want api:1 and api:2"
    )
    old, new = by_image["images.meshploy.test/api:1"], by_image["images.meshploy.test/api:2"]
    assert old.spec.replicas == 0, f"old ReplicaSet replicas: got {old.spec.replicas}, want 0"
    assert new.status.ready_replicas == 2, (
        f"new ReplicaSet ready: got {new.status.ready_replicas}, want 2"
    )


async def test_node_selector_places_pods_on_builders_or_leaves_them_pending(
    kube_api: kclient.ApiClient, kube_namespace: str
) -> None:
    core = KubeClients.of(kube_api).core
    await core.create_namespaced_pod(
        kube_namespace, pod("build", node_selector={"meshploy.com/role": "builder"})
    )
    await core.create_namespaced_pod(
        kube_namespace, pod("nowhere", node_selector={"meshploy.com/role": "no-such-role"})
    )

    async def build_ready() -> Any:
        p = await core.read_namespaced_pod("build", kube_namespace)
        ready = pod_condition(p, "Ready")
        return p if ready is not None and ready.status == "True" else None

    placed = await eventually(build_ready, 30, "pod build to be Ready")
    assert placed.spec.node_name == BUILDER_NODE, (
        f"node of build pod: got {placed.spec.node_name}, want {BUILDER_NODE}"
    )

    async def unschedulable() -> Any:
        p = await core.read_namespaced_pod("nowhere", kube_namespace)
        cond = pod_condition(p, "PodScheduled")
        return p if cond is not None and cond.reason == "Unschedulable" else None

    stuck = await eventually(unschedulable, 30, "pod nowhere to be marked Unschedulable")
    cond = pod_condition(stuck, "PodScheduled")
    assert cond is not None and cond.status == "False", f"PodScheduled: got {cond}, want False"
    assert stuck.status.phase == "Pending", f"phase: got {stuck.status.phase}, want Pending"
    assert not stuck.spec.node_name, f"nodeName: got {stuck.spec.node_name!r}, want none"


async def test_job_completes_and_ttl_after_finished_deletes_it(
    kube_api: kclient.ApiClient, kube_namespace: str
) -> None:
    batch = KubeClients.of(kube_api).batch
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "build-1"},
        "spec": {
            "ttlSecondsAfterFinished": 1,
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "build", "image": "images.meshploy.test/builder:1"}],
                }
            },
        },
    }
    before = await batch.list_namespaced_job(kube_namespace)
    watching = asyncio.create_task(
        watch_until(
            batch.list_namespaced_job,
            kube_namespace,
            "build-1",
            lambda kind, _obj: kind == "DELETED",
            60,
            "job build-1 to complete and be deleted",
            before.metadata.resource_version,
        )
    )
    await batch.create_namespaced_job(kube_namespace, job)
    events = await watching

    completed = [
        obj
        for _, obj in events
        if obj.status
        and any(c.type == "Complete" and c.status == "True" for c in obj.status.conditions or [])
    ]
    assert completed, f"job conditions seen: got {[e[1].status for e in events]}, want Complete"
    assert completed[0].status.succeeded == 1, (
        f"succeeded: got {completed[0].status.succeeded}, want 1"
    )
    with pytest.raises(kclient.ApiException) as gone:
        await batch.read_namespaced_job("build-1", kube_namespace)
    assert gone.value.status == 404, f"read after TTL: got {gone.value.status}, want 404"


async def test_cronjob_creates_jobs_on_schedule(
    kube_api: kclient.ApiClient, kube_namespace: str
) -> None:
    batch = KubeClients.of(kube_api).batch
    cron = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "tick"},
        "spec": {
            "schedule": "* * * * *",
            "jobTemplate": {
                "spec": {
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [{"name": "tick", "image": "images.meshploy.test/t:1"}],
                        }
                    }
                }
            },
        },
    }
    await batch.create_namespaced_cron_job(kube_namespace, cron)

    async def succeeded_job() -> Any:
        jobs = (await batch.list_namespaced_job(kube_namespace)).items
        owned = [
            j
            for j in jobs
            if any(
                o.kind == "CronJob" and o.name == "tick" for o in j.metadata.owner_references or []
            )
        ]
        return next((j for j in owned if (j.status.succeeded or 0) >= 1), None)

    # The schedule fires at the next minute boundary: up to 60 s plus controller latency.
    job = await eventually(succeeded_job, 90, "CronJob tick to create a Job that succeeds")
    assert job.metadata.name.startswith("tick-"), f"job name: got {job.metadata.name}"

    async def recorded() -> Any:
        cj = await batch.read_namespaced_cron_job("tick", kube_namespace)
        return cj if cj.status and cj.status.last_successful_time else None

    cj = await eventually(recorded, 30, "CronJob tick to record lastSuccessfulTime")
    assert cj.status.last_schedule_time is not None, "lastScheduleTime: got None, want a time"


async def test_deleting_a_namespace_removes_its_contents(kube_api: kclient.ApiClient) -> None:
    k = KubeClients.of(kube_api)
    core, apps = k.core, k.apps
    ns = (await core.create_namespace({"metadata": {"generateName": "t-gone-"}})).metadata.name

    async def default_sa() -> Any:
        return await core.read_namespaced_service_account("default", ns)

    await eventually(default_sa, 30, f"ServiceAccount default in {ns}")
    await apps.create_namespaced_deployment(ns, deployment("web", "images.meshploy.test/web:1", 2))
    await core.create_namespaced_config_map(ns, {"metadata": {"name": "settings"}})

    async def running() -> bool:
        return rolled_out(await apps.read_namespaced_deployment("web", ns), 2)

    await eventually(running, 60, f"deployment web in {ns} to roll out")
    await core.delete_namespace(ns)

    async def namespace_gone() -> bool:
        try:
            await core.read_namespace(ns)
        except kclient.ApiException as exc:
            return bool(exc.status == 404)
        return False

    await eventually(namespace_gone, 90, f"namespace {ns} to be deleted")
    pods = (await core.list_pod_for_all_namespaces(field_selector=f"metadata.namespace={ns}")).items
    assert pods == [], f"pods left in {ns}: got {[p.metadata.name for p in pods]}, want none"
    deps = (
        await apps.list_deployment_for_all_namespaces(field_selector=f"metadata.namespace={ns}")
    ).items
    assert deps == [], f"deployments left in {ns}: got {len(deps)}, want none"


async def test_resource_quota_rejects_an_over_quota_pod(
    kube_api: kclient.ApiClient, kube_namespace: str
) -> None:
    core = KubeClients.of(kube_api).core
    quota = {"metadata": {"name": "small"}, "spec": {"hard": {"requests.cpu": "500m", "pods": "2"}}}
    await core.create_namespaced_resource_quota(kube_namespace, quota)

    async def enforced() -> bool:
        q = await core.read_namespaced_resource_quota("small", kube_namespace)
        return bool(q.status and q.status.hard)

    # Admission only enforces a quota once the resourcequota controller has computed it.
    await eventually(enforced, 30, "ResourceQuota small to have a computed status")

    def sized(name: str, cpu: str) -> dict[str, Any]:
        spec = pod(name)
        spec["spec"]["containers"][0]["resources"] = {"requests": {"cpu": cpu}}
        return spec

    await core.create_namespaced_pod(kube_namespace, sized("fits", "200m"))
    with pytest.raises(kclient.ApiException) as rejected:
        await core.create_namespaced_pod(kube_namespace, sized("too-big", "400m"))
    assert rejected.value.status == 403, f"status: got {rejected.value.status}, want 403"
    assert "exceeded quota" in (rejected.value.body or ""), (
        f"reason: got {rejected.value.body!r}, want 'exceeded quota'"
    )


async def test_server_side_apply_records_the_field_manager(
    kube_api: kclient.ApiClient, kube_namespace: str
) -> None:
    core = KubeClients.of(kube_api).core
    manifest = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "app-env"},
        "data": {"PORT": "8080"},
    }
    applied = await core.patch_namespaced_config_map(
        "app-env",
        kube_namespace,
        manifest,
        field_manager="meshploy",
        force=True,
        _content_type="application/apply-patch+yaml",
    )
    managers = [(m.manager, m.operation) for m in applied.metadata.managed_fields or []]
    assert ("meshploy", "Apply") in managers, (
        f"managedFields: got {managers}, want ('meshploy', 'Apply')"
    )
    fields = next(m.fields_v1 for m in applied.metadata.managed_fields if m.manager == "meshploy")
    assert "f:PORT" in json.dumps(fields), f"fields owned by meshploy: got {fields}"

    # Another manager changing a field meshploy owns is a conflict unless forced.
    other = {**manifest, "data": {"PORT": "9090"}}
    with pytest.raises(kclient.ApiException) as conflict:
        await core.patch_namespaced_config_map(
            "app-env",
            kube_namespace,
            other,
            field_manager="someone-else",
            _content_type="application/apply-patch+yaml",
        )
    assert conflict.value.status == 409, f"status: got {conflict.value.status}, want 409"


async def test_a_node_made_not_ready_leaves_the_service_endpoints(
    kube_cluster: KubeTestCluster, kube_api: kclient.ApiClient, kube_namespace: str
) -> None:
    core = KubeClients.of(kube_api).core
    discovery = KubeClients.of(kube_api).discovery
    for node in WORKER_NODES:
        spec = pod(f"web-{node}", node_selector={"kubernetes.io/hostname": node})
        spec["metadata"]["labels"] = {"app": "web"}
        await core.create_namespaced_pod(kube_namespace, spec)
    await core.create_namespaced_service(
        kube_namespace,
        {
            "metadata": {"name": "web"},
            "spec": {"type": "NodePort", "selector": {"app": "web"}, "ports": [{"port": 80}]},
        },
    )

    async def ready_nodes() -> set[str]:
        slices = (
            await discovery.list_namespaced_endpoint_slice(
                kube_namespace, label_selector="kubernetes.io/service-name=web"
            )
        ).items
        return {
            ep.node_name
            for s in slices
            for ep in s.endpoints or []
            if ep.conditions and ep.conditions.ready
        }

    async def both() -> bool:
        return await ready_nodes() == set(WORKER_NODES)

    await eventually(both, 30, f"ready endpoints on {WORKER_NODES}")
    down = WORKER_NODES[1]
    kube_cluster.set_node_ready(down, False)
    try:

        async def without_down() -> bool:
            return await ready_nodes() == {WORKER_NODES[0]}

        await eventually(without_down, 30, f"endpoint on NotReady {down} to stop being ready")
        node = await core.read_node(down)
        ready = next(c.status for c in node.status.conditions if c.type == "Ready")
        assert ready == "Unknown", f"Ready of {down}: got {ready}, want Unknown"
        taints = {(t.key, t.effect) for t in node.spec.taints or []}
        assert ("node.kubernetes.io/unreachable", "NoExecute") in taints, (
            f"taints on {down}: got {taints}, want unreachable:NoExecute"
        )
    finally:
        kube_cluster.set_node_ready(down, True)
    await eventually(both, 30, f"endpoint on {down} to be ready again")


def test_missing_go_is_reported_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MESHPLOY_CACHE_DIR", str(tmp_path))  # nothing cached here
    monkeypatch.setenv("PATH", str(tmp_path))  # and no go on PATH
    with pytest.raises(GoToolchainMissingError) as missing:
        ensure_binaries()
    message = str(missing.value)
    assert "\n" not in message, f"message: got {message!r}, want one line"
    assert "apt-get install golang" in message, f"message: got {message!r}, want the fix"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return not state[state.rindex(")") + 2 :].startswith("Z")


async def test_a_killed_launcher_leaves_no_process_behind(tmp_path: Path) -> None:
    script = textwrap.dedent("""
        import json, sys
        from meshploy_testbed.cluster import DevCluster
        dev = DevCluster().start()
        print(json.dumps([p.pid for p in dev.processes]), flush=True)
        sys.stdin.read()  # block until the test kills us
    """)
    launcher = subprocess.Popen(
        [sys.executable, "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    try:
        assert launcher.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(launcher.stdout.readline), 120)
        pids = json.loads(line)
        assert len(pids) == 5, f"components: got {len(pids)}, want 5"
        assert all(_alive(p) for p in pids), f"alive before kill: got {[_alive(p) for p in pids]}"
    finally:
        launcher.send_signal(signal.SIGKILL)
        launcher.wait()

    async def all_gone() -> bool:
        return not any(_alive(p) for p in pids)

    await eventually(all_gone, 15, f"components {pids} to die with their launcher")


def test_cli_up_status_down(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MESHPLOY_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    starts: dict[int, int | None] = {}
    up = runner.invoke(cluster_cli, ["up", "--workers", "1", "--builders", "1"])
    try:
        assert up.exit_code == 0, f"up: got exit {up.exit_code}: {up.output}"
        lines = up.stdout.splitlines()
        kubeconfig = [ln for ln in lines if ln.startswith("KUBECONFIG=")]
        assert len(kubeconfig) == 1, f"up's output: got {lines}, want one KUBECONFIG= line"
        assert Path(kubeconfig[0].split("=", 1)[1]).is_file(), f"kubeconfig: got {kubeconfig}"

        status = runner.invoke(cluster_cli, ["status", "--json"])
        assert status.exit_code == 0, f"status: got exit {status.exit_code}: {status.output}"
        report = json.loads(status.stdout)
        nodes = {n["name"]: n["ready"] for n in report["nodes"]}
        assert nodes == {"node-a": "True", "node-builder": "True"}, f"nodes: got {nodes}"
        pids = [p["pid"] for p in report["processes"].values()]
        starts = {pid: process_start_time(pid) for pid in pids}
    finally:
        down = runner.invoke(cluster_cli, ["down"])
    assert down.exit_code == 0, f"down: got exit {down.exit_code}: {down.output}"
    left = [
        pid
        for pid, start in starts.items()
        if start and process_start_time(pid) == start and _alive(pid)
    ]
    assert left == [], f"processes left after down: got {left}, want none"
    after = runner.invoke(cluster_cli, ["status"])
    assert after.exit_code == 1, f"status after down: got exit {after.exit_code}, want 1"
