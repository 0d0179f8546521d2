"""Runs of a job: triggering one by hand, listing them, reading their output.

A manual trigger records a ``pending`` run and wakes the reconciler, which creates a Job
from the CronJob at once; scheduled runs are recorded when the reconciler sees the Job the
CronJob controller made. The reconciler follows each run to its end (exit code, reason) and
keeps its output here, sealed, for ``MESHPLOY_JOB_LOG_RETENTION_DAYS``, after the pod is gone.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from meshploy_core import audit
from meshploy_core.audit import Actor
from meshploy_core.db.base import utcnow
from meshploy_core.db.paging import Page, PageRequest, fetch_page
from meshploy_core.errors import NotFound
from meshploy_core.jobs.catalog import JOBS_CHANNEL
from meshploy_core.jobs.models import Job, JobRun
from meshploy_core.projects.models import Project

FINISHED = ("succeeded", "failed")


async def trigger(session: AsyncSession, actor: Actor, project: Project, job: Job) -> JobRun:
    """Record a manual run; the reconciler starts it at once (it is woken by NOTIFY)."""
    run = JobRun(
        id=uuid.uuid4(),
        job_id=job.id,
        trigger="manual",
        status="pending",
        triggered_by=actor.user_id,
        created_at=utcnow(),
    )
    session.add(run)
    await session.flush()
    await audit.record(
        session,
        actor,
        "job.trigger",
        "job",
        job.id,
        org_id=project.org_id,
        details={"name": job.name, "run_id": str(run.id)},
    )
    await session.execute(text(f"NOTIFY {JOBS_CHANNEL}"))
    return run


async def list_runs(session: AsyncSession, job: Job, page: PageRequest) -> Page[JobRun]:
    """The job's runs, newest first."""
    query = select(JobRun).where(JobRun.job_id == job.id)
    return await fetch_page(
        session,
        query,
        [JobRun.created_at, JobRun.id],
        lambda r: (r.created_at, r.id),
        page,
        descending=True,
    )


async def get_run(session: AsyncSession, job: Job, run_id: uuid.UUID) -> JobRun:
    """A run of ``job``, else NotFound."""
    run = await session.scalar(select(JobRun).where(JobRun.id == run_id, JobRun.job_id == job.id))
    if run is None:
        raise NotFound("no such run of this job")
    return run


def log_text(run: JobRun) -> tuple[str | None, str | None]:
    """The run's kept output and, when there is none, why (not finished, unreadable,
    expired)."""
    if run.log is not None:
        return run.log, None
    if run.log_note:
        return None, run.log_note
    if run.status not in FINISHED:
        return None, "the run has not finished; its output is kept once it has"
    return None, "no output was kept for this run"
