"""``/api/v1/orgs/{org_id}/projects/{project_id}/jobs``: cron jobs, their runs and output."""

from __future__ import annotations

import uuid

from pydantic import Field
from quart import Blueprint
from quart_schema import validate_querystring, validate_request, validate_response

from meshploy_core.authorization.policy import requires
from meshploy_core.jobs import catalog, runs
from meshploy_core.jobs.models import Job
from meshploy_core.projects import projects
from meshploy_core.projects.models import Project
from meshploy_core.web.context import actor, db
from meshploy_core.web.openapi import destructive, no_content, problems
from meshploy_core.web.pagination import Page, PageQuery, page_of, page_request
from meshploy_gateway.api.job_models import JobIn, JobName, JobOut, JobSpecIn, RunLogOut, RunOut
from meshploy_gateway.api.service_models import EnvIn, EnvOut

bp = Blueprint(
    "jobs", __name__, url_prefix="/api/v1/orgs/<uuid:org_id>/projects/<uuid:project_id>/jobs"
)


class JobQuery(PageQuery):
    """List filters: ``name`` finds one job by name."""

    name: JobName | None = Field(None, description="Only the job with this name.")


async def _project(org_id: uuid.UUID, project_id: uuid.UUID) -> Project:
    _, project = await projects.get_project_and_org(db(), org_id, project_id)
    return project


async def _out(job: Job) -> JobOut:
    return JobOut.of(job, await catalog.group_names(db(), job))


@bp.get("")
@requires("job:read")
@validate_querystring(JobQuery)
@validate_response(Page[JobOut])
async def list_jobs(org_id: uuid.UUID, project_id: uuid.UUID, query_args: JobQuery) -> Page[JobOut]:
    """The project's cron jobs (``?name=`` finds one by name)."""
    project = await _project(org_id, project_id)
    result = await catalog.list_jobs(db(), project, page_request(query_args), query_args.name)
    names = {j.id: await catalog.group_names(db(), j) for j in result.items}
    return page_of(result, lambda j: JobOut.of(j, names[j.id]))


@bp.post("")
@requires("job:write")
@problems(409)
@validate_request(JobIn)
@validate_response(JobOut, 201)
async def create_job(org_id: uuid.UUID, project_id: uuid.UUID, data: JobIn) -> tuple[JobOut, int]:
    """Create a cron job; its CronJob is in the cluster within a reconciler pass."""
    project = await _project(org_id, project_id)
    session = db()
    job = await catalog.create_job(session, actor(), project, data.name, data.config(), data.env)
    await session.commit()
    return await _out(job), 201


@bp.get("/<uuid:job_id>")
@requires("job:read")
@validate_response(JobOut)
async def get_job(org_id: uuid.UUID, project_id: uuid.UUID, job_id: uuid.UUID) -> JobOut:
    """One cron job."""
    project = await _project(org_id, project_id)
    return await _out(await catalog.get_job(db(), project, job_id))


@bp.put("/<uuid:job_id>")
@requires("job:write")
@validate_request(JobSpecIn)
@validate_response(JobOut)
async def update_job(
    org_id: uuid.UUID, project_id: uuid.UUID, job_id: uuid.UUID, data: JobSpecIn
) -> JobOut:
    """Replace the job's configuration (its CronJob is re-applied at the next pass)."""
    project = await _project(org_id, project_id)
    session = db()
    job = await catalog.get_job(session, project, job_id)
    await catalog.update_job(session, actor(), project, job, data.config())
    await session.commit()
    return await _out(job)


@bp.delete("/<uuid:job_id>")
@requires("job:delete")
@no_content
async def delete_job(
    org_id: uuid.UUID, project_id: uuid.UUID, job_id: uuid.UUID
) -> tuple[str, int]:
    """Delete the job, its runs and their output; its CronJob and pods go. DESTRUCTIVE."""
    project = await _project(org_id, project_id)
    session = db()
    job = await catalog.get_job(session, project, job_id)
    await catalog.delete_job(session, actor(), project, job)
    await session.commit()
    return "", 204


@bp.get("/<uuid:job_id>/env")
@requires("job:read")
@validate_response(EnvOut)
async def get_job_env(org_id: uuid.UUID, project_id: uuid.UUID, job_id: uuid.UUID) -> EnvOut:
    """The job's own environment variables (values masked)."""
    project = await _project(org_id, project_id)
    return EnvOut.of(list(catalog.env_of(await catalog.get_job(db(), project, job_id))))


@bp.patch("/<uuid:job_id>/env")
@requires("job:write")
@destructive
@validate_request(EnvIn)
@validate_response(EnvOut)
async def update_job_env(
    org_id: uuid.UUID, project_id: uuid.UUID, job_id: uuid.UUID, data: EnvIn
) -> EnvOut:
    """Set and unset the job's environment variables (used from its next run)."""
    project = await _project(org_id, project_id)
    session = db()
    job = await catalog.get_job(session, project, job_id)
    names = await catalog.set_env(session, actor(), project, job, dict(data.set), data.unset)
    await session.commit()
    return EnvOut.of(names)


@bp.post("/<uuid:job_id>/trigger")
@requires("job:write")
@validate_response(RunOut, 202)
async def trigger_job(
    org_id: uuid.UUID, project_id: uuid.UUID, job_id: uuid.UUID
) -> tuple[RunOut, int]:
    """Run the job now, whatever its schedule; follow the run with its status or logs."""
    project = await _project(org_id, project_id)
    session = db()
    job = await catalog.get_job(session, project, job_id)
    run = await runs.trigger(session, actor(), project, job)
    await session.commit()
    return RunOut.of(run), 202


class RunQuery(PageQuery):
    """Page through a job's runs, newest first."""


@bp.get("/<uuid:job_id>/runs")
@requires("job:read")
@validate_querystring(RunQuery)
@validate_response(Page[RunOut])
async def job_runs(
    org_id: uuid.UUID, project_id: uuid.UUID, job_id: uuid.UUID, query_args: RunQuery
) -> Page[RunOut]:
    """The job's runs, newest first: scheduled and manual, with status and exit code."""
    project = await _project(org_id, project_id)
    job = await catalog.get_job(db(), project, job_id)
    return page_of(await runs.list_runs(db(), job, page_request(query_args)), RunOut.of)


@bp.get("/<uuid:job_id>/runs/<uuid:run_id>")
@requires("job:read")
@validate_response(RunOut)
async def get_job_run(
    org_id: uuid.UUID, project_id: uuid.UUID, job_id: uuid.UUID, run_id: uuid.UUID
) -> RunOut:
    """One run."""
    project = await _project(org_id, project_id)
    job = await catalog.get_job(db(), project, job_id)
    return RunOut.of(await runs.get_run(db(), job, run_id))


@bp.get("/<uuid:job_id>/runs/<uuid:run_id>/logs")
@requires("job:logs")
@validate_response(RunLogOut)
async def job_logs(
    org_id: uuid.UUID, project_id: uuid.UUID, job_id: uuid.UUID, run_id: uuid.UUID
) -> RunLogOut:
    """What the run printed, kept after its pod is gone (for the retention period)."""
    project = await _project(org_id, project_id)
    job = await catalog.get_job(db(), project, job_id)
    run = await runs.get_run(db(), job, run_id)
    output, note = runs.log_text(run)
    return RunLogOut(run=RunOut.of(run), output=output, note=note)
