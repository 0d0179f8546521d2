"""Cron jobs on the real test control plane (kube-apiserver, the cronjob, job and ttl
controllers; kwok nodes, whose Job pods complete with exit code 0, or 3 for images named
``jobfail``): CronJobs rendered and applied by the reconciler, manual and scheduled runs
recorded with exit codes and reasons, drift repaired, deletion, a failure delivered as an
event by the worker."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from sqlalchemy import delete, select

from meshploy_core.audit import SYSTEM
from meshploy_core.events.models import Event
from meshploy_core.jobs import catalog, runs
from meshploy_core.jobs.catalog import JobConfig
from meshploy_core.jobs.models import Job, JobRun
from meshploy_core.notifications import channels
from meshploy_core.plugins.manager import PluginManager
from meshploy_core.projects.models import Project
from meshploy_core.testing.poll import eventually
from meshploy_core.testing.receiver import HttpReceiver
from meshploy_core.variables import groups
from tests.fixtures.deploys import DeployBed


async def _job(bed: DeployBed, name: str, env: dict[str, str] | None = None, **cfg: Any) -> Job:
    config = JobConfig(schedule=cfg.pop("schedule", "0 3 * * *"), **cfg)
    async with bed.sessions() as s:
        project = await s.get(Project, bed.project.id)
        assert project is not None
        job = await catalog.create_job(s, SYSTEM, project, name, config, env or {})
        await s.commit()
        return job


async def _trigger(bed: DeployBed, job: Job) -> uuid.UUID:
    async with bed.sessions() as s:
        run = await runs.trigger(s, SYSTEM, bed.project, job)
        await s.commit()
        return run.id


async def _run(bed: DeployBed, run_id: uuid.UUID, *statuses: str, timeout: float = 60) -> JobRun:
    async def probe() -> JobRun | None:
        async with bed.sessions() as s:
            run = await s.get(JobRun, run_id)
            return run if run is not None and run.status in statuses else None

    return await eventually(probe, timeout, f"run {run_id} to be {statuses}")


async def _cronjob(bed: DeployBed, name: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        return await bed.kube.get("batch/v1", "CronJob", name, bed.namespace)

    return await eventually(probe, 30, f"CronJob {name}")


async def test_a_job_becomes_a_cronjob_and_a_manual_run_succeeds(
    bed: DeployBed, worker: object
) -> None:
    async with bed.sessions() as s:
        group = await groups.create_group(
            s, SYSTEM, bed.org.id, None, "shared", {"DB_URL": "postgres://db", "MODE": "group"}
        )
        await s.commit()
    job = await _job(
        bed,
        "nightly-cleanup",
        env={"MODE": "own", "TOKEN": "job-token-9d2f"},
        image="busybox:1.36",
        command=("/bin/sh", "-c", "echo cleaning"),
        time_zone="Europe/Paris",
        retries=2,
        deadline_seconds=600,
        variable_groups=(group.name,),
    )
    cj = await _cronjob(bed, "nightly-cleanup")
    spec = cj["spec"]
    assert (spec["schedule"], spec["timeZone"], spec["concurrencyPolicy"]) == (
        "0 3 * * *",
        "Europe/Paris",
        "Forbid",
    )
    template = spec["jobTemplate"]["spec"]
    assert (template["backoffLimit"], template["activeDeadlineSeconds"]) == (2, 600)
    container = template["template"]["spec"]["containers"][0]
    assert container["command"] == ["/bin/sh", "-c", "echo cleaning"]
    assert "job-token-9d2f" not in json.dumps(cj), "env values never inline"
    secret = await bed.kube.get(
        "v1", "Secret", container["envFrom"][0]["secretRef"]["name"], bed.namespace
    )
    assert secret is not None
    env = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert env == {"DB_URL": "postgres://db", "MODE": "own", "TOKEN": "job-token-9d2f"}

    run_id = await _trigger(bed, job)
    run = await _run(bed, run_id, "succeeded", "failed")
    assert run.status == "succeeded", run.reason
    assert (run.trigger, run.exit_code, run.reason) == ("manual", 0, None)
    assert run.kube_name and run.kube_name.startswith("nightly-cleanup-m")
    assert run.started_at and run.finished_at and run.log_expires_at
    # kwok runs no container: there is no output to keep, and the run says why.
    assert run.log is None and run.log_note and "could not be read" in run.log_note
    kjob = await bed.kube.get("batch/v1", "Job", run.kube_name, bed.namespace)
    assert kjob is not None
    assert kjob["metadata"]["ownerReferences"][0]["name"] == "nightly-cleanup"


async def test_a_failing_run_records_exit_code_reason_and_an_event_delivered_by_the_worker(
    bed: DeployBed, worker: object, http_receiver: HttpReceiver
) -> None:
    async with bed.sessions() as s:
        catalog_ = await PluginManager.load().notifiers()
        await channels.create_channel(
            s,
            SYSTEM,
            catalog_,
            bed.org.id,
            bed.project.id,
            name="jobs",
            kind="webhook",
            config={"url": http_receiver.url, "secret": "whsec-jobs-0123456789"},
            events=["job_run.failed"],
            verify=False,
        )
        await s.commit()
    job = await _job(bed, "import", image="registry.example.com/jobfail:1")
    run = await _run(bed, await _trigger(bed, job), "succeeded", "failed")
    assert run.status == "failed"
    assert run.exit_code == 3
    assert run.reason and run.reason.startswith("BackoffLimitExceeded")
    assert "(last attempt: Error); exit code 3" in run.reason
    async with bed.sessions() as s:
        event = await s.scalar(select(Event).where(Event.kind == "job_run.failed"))
    assert event is not None and event.details["exit_code"] == 3
    assert event.title == "job import failed"
    # Poll without blocking the event loop: the worker delivering runs on it.
    await eventually(lambda: len(http_receiver.requests) >= 1, 60, "the event's delivery")
    req = http_receiver.requests[0]
    body = json.loads(req.body)
    assert (body["event"], body["project"], body["service"]) == ("job_run.failed", "web", "import")


async def test_drift_is_repaired_changes_applied_and_deleted_jobs_collected(
    bed: DeployBed, worker: object
) -> None:
    job = await _job(bed, "report", image="busybox:1.36", env={"A": "1"})
    await _cronjob(bed, "report")
    await bed.kube.delete("batch/v1", "CronJob", "report", bed.namespace)
    await _cronjob(bed, "report")  # re-created

    live = await _cronjob(bed, "report")
    live["spec"]["schedule"] = "* * * * *"
    live["spec"]["suspend"] = True
    await bed.kube.apply(
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": "report", "namespace": bed.namespace},
            "spec": live["spec"],  # someone's hand edit, applied over ours
        }
    )

    async def repaired() -> bool:
        cj = await bed.kube.get("batch/v1", "CronJob", "report", bed.namespace)
        return bool(cj and cj["spec"]["schedule"] == "0 3 * * *" and not cj["spec"]["suspend"])

    await eventually(repaired, 30, "the hand-edited CronJob to be repaired")

    async with bed.sessions() as s:
        stored = await s.get(Job, job.id)
        assert stored is not None
        await catalog.update_job(
            s, SYSTEM, bed.project, stored, JobConfig(schedule="@hourly", image="busybox:1.37")
        )
        await s.commit()

    async def updated() -> bool:
        cj = await bed.kube.get("batch/v1", "CronJob", "report", bed.namespace)
        if cj is None:
            return False
        container = cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
        return bool(cj["spec"]["schedule"] == "@hourly" and container["image"] == "busybox:1.37")

    await eventually(updated, 30, "the changed job to reach its CronJob")

    async with bed.sessions() as s:
        stored = await s.get(Job, job.id)
        assert stored is not None
        await catalog.delete_job(s, SYSTEM, bed.project, stored)
        await s.commit()

    async def gone() -> bool:
        cj = await bed.kube.get("batch/v1", "CronJob", "report", bed.namespace)
        secrets = await bed.kube.list(
            "v1", "Secret", bed.namespace, label_selector=f"meshploy.com/job-id={job.id}"
        )
        return cj is None and secrets == []

    await eventually(gone, 30, "the deleted job's CronJob and Secret to be removed")


async def test_image_from_service_runs_what_the_service_runs(
    bed: DeployBed, worker: object
) -> None:
    sid = await bed.create_service("api", image="nginx:1.27")
    dep = await bed.wait_status(await bed.deploy(sid, image="nginx:1.28"), "healthy", "failed")
    assert dep.status == "healthy", dep.reason
    await _job(bed, "migrate", image_from_service="api", command=("migrate",))
    cj = await _cronjob(bed, "migrate")
    container = cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "nginx:1.28"


async def test_scheduled_runs_are_recorded_and_the_project_takes_its_jobs_along(
    bed: DeployBed, worker: object
) -> None:
    job = await _job(bed, "tick", schedule="* * * * *", image="busybox:1.36")

    async def scheduled() -> JobRun | None:
        async with bed.sessions() as s:
            return await s.scalar(
                select(JobRun).where(
                    JobRun.job_id == job.id,
                    JobRun.trigger == "schedule",
                    JobRun.status == "succeeded",
                )
            )

    run = await eventually(scheduled, 120, "a scheduled run of * * * * * to succeed")
    assert run.exit_code == 0 and run.kube_name and run.kube_name.startswith("tick-")

    async with bed.sessions() as s:
        await s.execute(delete(Project).where(Project.id == bed.project.id))
        await s.commit()

    async def namespace_going() -> bool:
        ns = await bed.kube.get("v1", "Namespace", bed.namespace)
        return ns is None or bool(ns["metadata"].get("deletionTimestamp"))

    await eventually(namespace_going, 30, "the deleted project's namespace (and CronJob) to go")
    async with bed.sessions() as s:
        assert await s.get(Job, job.id) is None
        assert await s.scalar(select(JobRun).where(JobRun.job_id == job.id)) is None
