"""Cron jobs for real: the kubelet runs each run's container on the real node; the reconciler
records the exit code and keeps the output after the pod is gone."""

from __future__ import annotations

import time
import uuid

import pytest

from meshploy_core.audit import SYSTEM
from meshploy_core.jobs import catalog, runs
from meshploy_core.jobs.catalog import JobConfig
from meshploy_core.jobs.models import Job, JobRun
from meshploy_core.testing.poll import eventually
from tests.fixtures.deploys import DeployBed
from tests.fixtures.realnode import RealBed, timing

#: Real containers on the real-node cluster (``kube_cluster`` is that cluster here).
pytestmark = pytest.mark.realnode


async def _job(bed: DeployBed, name: str, image: str, script: str) -> Job:
    async with bed.sessions() as s:
        job = await catalog.create_job(
            s,
            SYSTEM,
            bed.project,
            name,
            JobConfig(schedule="0 4 * * *", image=image, command=("/bin/sh", "-c", script)),
            {"WHO": "meshploy"},
        )
        await s.commit()
        return job


async def _finished(bed: DeployBed, run_id: uuid.UUID) -> JobRun:
    async def probe() -> JobRun | None:
        async with bed.sessions() as s:
            run = await s.get(JobRun, run_id)
            return run if run is not None and run.status in runs.FINISHED else None

    return await eventually(probe, 120, f"run {run_id} to finish")


async def test_runs_exit_codes_and_output_are_kept_after_the_pod_is_gone(
    real_bed: RealBed, bed: DeployBed, worker: object
) -> None:
    ok = await _job(bed, "say-hello", real_bed.app_v1, 'echo "hello from $WHO job"; exit 0')
    bad = await _job(
        bed, "fail-three", real_bed.app_v1, 'echo "about to fail" >&2; echo "step 2"; exit 3'
    )
    started = time.monotonic()
    ids = {}
    for job in (ok, bad):
        async with bed.sessions() as s:
            ids[job.name] = (await runs.trigger(s, SYSTEM, bed.project, job)).id
            await s.commit()
    good = await _finished(bed, ids["say-hello"])
    timing("manual job trigger to a recorded exit code (real node)", time.monotonic() - started)
    failed = await _finished(bed, ids["fail-three"])

    assert (good.status, good.exit_code, good.reason) == ("succeeded", 0, None)
    output, note = runs.log_text(good)
    assert note is None and output is not None
    assert [line.split(" ", 1)[1] for line in output.splitlines()] == ["hello from meshploy job"]

    assert (failed.status, failed.exit_code) == ("failed", 3)
    assert failed.reason and failed.reason.startswith("BackoffLimitExceeded")
    assert failed.reason.endswith("(last attempt: Error); exit code 3")
    output, _ = runs.log_text(failed)
    assert output is not None
    # stdout and stderr are two pipes: their lines interleave by when the kubelet read them.
    assert sorted(line.split(" ", 1)[1] for line in output.splitlines()) == [
        "about to fail",
        "step 2",
    ]

    # The pods go (deleting the Job takes them along); the output stays readable.
    for run in (good, failed):
        assert run.kube_name
        await bed.kube.delete("batch/v1", "Job", run.kube_name, bed.namespace)

    async def pods_gone() -> bool:
        pods = await bed.kube.list("v1", "Pod", bed.namespace, label_selector="meshploy.com/job-id")
        return pods == []

    await eventually(pods_gone, 60, "the runs' pods to be deleted")
    async with bed.sessions() as s:
        kept = await s.get(JobRun, good.id)
    assert kept is not None and runs.log_text(kept)[0] == runs.log_text(good)[0]
