"""``meshploy worker`` as real processes: killed mid-deploy, and two at once."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import asyncpg
import pytest

from meshploy_core.deploys.leader import RECONCILER_LOCK_KEY, asyncpg_dsn
from meshploy_core.testing.poll import eventually
from tests.fixtures.deploys import DeployBed


class Workers:
    """Starts ``meshploy worker`` subprocesses against the test's database and cluster."""

    def __init__(self, bed: DeployBed) -> None:
        self.bed = bed
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        s = self.bed.settings
        env = {
            **os.environ,
            "DATABASE_URL": s.require_database_url(),
            "ENCRYPTION_KEY": base64.b64encode(s.require_encryption_key()).decode(),
            "KUBECONFIG": str(s.kubeconfig),
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "meshploy_core", "worker", "--interval", "0.5"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def workers(bed: DeployBed) -> Iterator[Workers]:
    w = Workers(bed)
    yield w
    w.stop_all()


async def lock_holders(bed: DeployBed) -> int:
    conn = await asyncpg.connect(asyncpg_dsn(bed.settings.require_database_url()))
    try:
        key = RECONCILER_LOCK_KEY
        return int(
            await conn.fetchval(
                "select count(*) from pg_locks where locktype = 'advisory' and granted "
                "and ((classid::bigint << 32) | objid::bigint) = $1",
                key,
            )
        )
    finally:
        await conn.close()


async def test_worker_killed_mid_deploy_and_restarted_converges(
    bed: DeployBed, workers: Workers
) -> None:
    sid = await bed.create_service(replicas=3)
    first = workers.start()
    dep_id = await bed.deploy(sid)
    await bed.wait_status(dep_id, "deploying", "healthy", "failed", timeout=30)
    first.kill()  # SIGKILL: no cleanup of any kind
    first.wait()
    dep = await bed.deployment(dep_id)
    assert dep.status in ("deploying", "healthy"), dep.status
    workers.start()
    done = await bed.wait_status(dep_id, "healthy", "failed", timeout=60)
    assert done.status == "healthy", done.reason
    starts = [line for line in await bed.log(dep_id) if line.startswith("deploying ")]
    assert len(starts) == 1, f"the deployment was started {len(starts)} times: {starts}"


async def test_two_workers_elect_one_leader_and_fail_over(bed: DeployBed, workers: Workers) -> None:
    leader = workers.start()
    await eventually(lambda: lock_holders(bed), 30, "the first worker to take the lock")
    workers.start()
    sid = await bed.create_service(replicas=2)
    first = await bed.wait_status(await bed.deploy(sid), "healthy", "failed", timeout=60)
    assert first.status == "healthy", first.reason
    assert await lock_holders(bed) == 1, "exactly one worker may hold the lock"
    starts = [line for line in await bed.log(first.id) if line.startswith("deploying ")]
    assert len(starts) == 1, f"two workers acted on one deployment: {starts}"

    leader.kill()
    leader.wait()
    second = await bed.wait_status(
        await bed.deploy(sid, image="nginx:1.28"), "healthy", "failed", timeout=90
    )
    assert second.status == "healthy", second.reason
    assert await lock_holders(bed) == 1
