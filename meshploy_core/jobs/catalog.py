"""Jobs of a project: their configuration, sealed environment and variable groups.

Configuration lives in PostgreSQL; the reconciler (``deploys/reconciler/jobs.py``) renders
each job as a CronJob and keeps it applied. Nothing here talks to Kubernetes.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, fields
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from meshploy_core import audit
from meshploy_core.audit import Actor
from meshploy_core.db.base import utcnow
from meshploy_core.db.paging import Page, PageRequest, fetch_page
from meshploy_core.deploys.models import Deployment
from meshploy_core.errors import Conflict, NotFound, ValidationFailed
from meshploy_core.jobs import cron
from meshploy_core.jobs.models import Job
from meshploy_core.kube.jobs import CONCURRENCY_POLICIES, CronJobSpec
from meshploy_core.kube.spec import CPU, MEMORY, Resources, dns_label_problem
from meshploy_core.organizations.models import Organization
from meshploy_core.projects.models import Project
from meshploy_core.projects.projects import namespace_of
from meshploy_core.services.catalog import _IMAGE, validate_env
from meshploy_core.services.models import Service
from meshploy_core.variables import groups as variable_groups
from meshploy_core.variables.effective import effective_env, groups_of

#: Wakes the reconciler (a trigger, a change) instead of waiting for its next pass.
JOBS_CHANNEL = "meshploy_deploys"
MAX_NAME = 52  # CronJob names leave room for the Job suffix Kubernetes adds


@dataclass(frozen=True)
class JobConfig:
    """Everything about a job except its name and environment."""

    schedule: str
    image: str | None = None
    image_from_service: str | None = None
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    time_zone: str = "UTC"
    resources: Resources = field(default_factory=Resources)
    concurrency_policy: str = "Forbid"
    retries: int = 0
    deadline_seconds: int = 3600
    suspended: bool = False
    variable_groups: tuple[str, ...] = ()


def validate_config(cfg: JobConfig) -> dict[str, str]:
    """Per-field problems of ``cfg``, each naming the rule."""
    errors: dict[str, str] = {}
    problem = cron.schedule_problem(cfg.schedule)
    if problem:
        errors["schedule"] = problem
    problem = cron.time_zone_problem(cfg.time_zone)
    if problem:
        errors["time_zone"] = problem
    if (cfg.image is None) == (cfg.image_from_service is None):
        errors["image"] = "give exactly one of image and image_from_service"
    elif cfg.image is not None and not (len(cfg.image) <= 512 and _IMAGE.match(cfg.image)):
        errors["image"] = "must be an image reference like busybox:1.36 or ghcr.io/team/tool:v2"
    elif cfg.image_from_service is not None:
        problem = dns_label_problem(cfg.image_from_service, "image_from_service")
        if problem:
            errors["image_from_service"] = problem
    if cfg.concurrency_policy not in CONCURRENCY_POLICIES:
        errors["concurrency_policy"] = f"must be one of {', '.join(CONCURRENCY_POLICIES)}"
    if not 0 <= cfg.retries <= 10:
        errors["retries"] = "must be between 0 and 10"
    if not 10 <= cfg.deadline_seconds <= 7 * 86400:
        errors["deadline_seconds"] = "must be between 10 seconds and 7 days (604800)"
    for name, values in (("command", cfg.command), ("args", cfg.args)):
        if len(values) > 64 or any(len(a) > 4096 for a in values):
            errors[name] = "at most 64 arguments of 4096 characters"
    r = cfg.resources
    for name in ("cpu_request", "cpu_limit"):
        value = getattr(r, name)
        if value is not None and not CPU.match(value):
            errors[f"resources.{name}"] = "must be a CPU quantity like 250m or 1.5"
    for name in ("memory_request", "memory_limit"):
        value = getattr(r, name)
        if value is not None and not MEMORY.match(value):
            errors[f"resources.{name}"] = "must be a memory quantity like 256Mi or 1Gi"
    return errors


def _to_json(cfg: JobConfig) -> dict[str, Any]:
    return {
        "schedule": cfg.schedule,
        "time_zone": cfg.time_zone,
        "command": list(cfg.command),
        "args": list(cfg.args),
        "resources": {f.name: getattr(cfg.resources, f.name) for f in fields(Resources)},
        "concurrency_policy": cfg.concurrency_policy,
        "retries": cfg.retries,
        "deadline_seconds": cfg.deadline_seconds,
        "suspended": cfg.suspended,
    }


def config_of(job: Job, group_names: list[str] | None = None) -> JobConfig:
    """The typed configuration of a stored job."""
    spec = job.spec or {}
    return JobConfig(
        schedule=str(spec.get("schedule", "")),
        image=job.image,
        image_from_service=job.image_from_service,
        command=tuple(spec.get("command") or ()),
        args=tuple(spec.get("args") or ()),
        time_zone=str(spec.get("time_zone", "UTC")),
        resources=Resources(**(spec.get("resources") or {})),
        concurrency_policy=str(spec.get("concurrency_policy", "Forbid")),
        retries=int(spec.get("retries", 0)),
        deadline_seconds=int(spec.get("deadline_seconds", 3600)),
        suspended=bool(spec.get("suspended", False)),
        variable_groups=tuple(group_names or ()),
    )


def env_of(job: Job) -> dict[str, str]:
    """The job's own environment, decrypted."""
    return dict(json.loads(job.env)) if job.env else {}


async def group_names(session: AsyncSession, job: Job) -> list[str]:
    """The names of the job's variable groups, in order."""
    return [g.name for g in await groups_of(session, job_id=job.id)]


async def _notify(session: AsyncSession) -> None:
    await session.execute(text(f"NOTIFY {JOBS_CHANNEL}"))


async def create_job(
    session: AsyncSession,
    actor: Actor,
    project: Project,
    name: str,
    cfg: JobConfig,
    env: dict[str, str],
) -> Job:
    """Create a job; the reconciler creates its CronJob within a pass."""
    errors = validate_config(cfg)
    problem = dns_label_problem(name, "name")
    if problem is None and len(name) > MAX_NAME:
        problem = f"name must be at most {MAX_NAME} characters (Kubernetes adds a suffix)"
    if problem:
        errors["name"] = problem
    errors.update(validate_env(env))
    if errors:
        raise ValidationFailed("the job definition is not valid", errors)
    groups = await variable_groups.resolve_groups(session, project, list(cfg.variable_groups))
    taken = await session.scalar(
        select(Job.id).where(Job.project_id == project.id, Job.name == name)
    )
    if taken is not None:
        raise Conflict(f"name: this project already has a job named {name!r}; choose another")
    job = Job(
        id=uuid.uuid4(),
        project_id=project.id,
        name=name,
        image=cfg.image,
        image_from_service=cfg.image_from_service,
        spec=_to_json(cfg),
        env=json.dumps(env) if env else None,
        created_at=utcnow(),
        updated_at=utcnow(),
    )
    session.add(job)
    await session.flush()
    await variable_groups.attach(session, groups, job_id=job.id)
    await audit.record(
        session,
        actor,
        "job.create",
        "job",
        job.id,
        org_id=project.org_id,
        details={"name": name, "schedule": cfg.schedule},
    )
    await _notify(session)
    return job


async def update_job(
    session: AsyncSession, actor: Actor, project: Project, job: Job, cfg: JobConfig
) -> Job:
    """Replace the job's configuration (the CronJob is re-applied at the next pass)."""
    errors = validate_config(cfg)
    if errors:
        raise ValidationFailed("the job definition is not valid", errors)
    groups = await variable_groups.resolve_groups(session, project, list(cfg.variable_groups))
    job.image, job.image_from_service = cfg.image, cfg.image_from_service
    job.spec = _to_json(cfg)
    job.updated_at = utcnow()
    await variable_groups.attach(session, groups, job_id=job.id)
    await session.flush()
    await audit.record(
        session,
        actor,
        "job.update",
        "job",
        job.id,
        org_id=project.org_id,
        details={"schedule": cfg.schedule, "suspended": cfg.suspended},
    )
    await _notify(session)
    return job


async def set_env(
    session: AsyncSession,
    actor: Actor,
    project: Project,
    job: Job,
    values: dict[str, str],
    unset: list[str] | tuple[str, ...] = (),
) -> list[str]:
    """Set and unset the job's own variables; return the resulting names."""
    errors = validate_env(values)
    env = env_of(job)
    for key in unset:
        if key not in env and key not in values:
            errors[f"env.{key[:64]}"] = "not set"
    if errors:
        raise ValidationFailed("the environment is not valid", errors)
    env.update(values)
    for key in unset:
        env.pop(key, None)
    job.env = json.dumps(env) if env else None
    job.updated_at = utcnow()
    await session.flush()
    await audit.record(
        session,
        actor,
        "job.env.update",
        "job",
        job.id,
        org_id=project.org_id,
        details={"set": sorted(values), "unset": sorted(unset)},
    )
    await _notify(session)
    return sorted(env)


async def get_job(session: AsyncSession, project: Project, job_id: uuid.UUID) -> Job:
    """A job of ``project``, else NotFound."""
    job = await session.scalar(select(Job).where(Job.id == job_id, Job.project_id == project.id))
    if job is None:
        raise NotFound("no such job in this project")
    return job


async def list_jobs(
    session: AsyncSession, project: Project, page: PageRequest, name: str | None = None
) -> Page[Job]:
    """The project's jobs, oldest first (``name`` finds one)."""
    query = select(Job).where(Job.project_id == project.id)
    if name is not None:
        query = query.where(Job.name == name)
    return await fetch_page(
        session, query, [Job.created_at, Job.id], lambda j: (j.created_at, j.id), page
    )


async def delete_job(session: AsyncSession, actor: Actor, project: Project, job: Job) -> None:
    """Delete the job and its runs; the reconciler removes its CronJob, Jobs and pods."""
    await session.delete(job)
    await session.flush()
    await audit.record(
        session,
        actor,
        "job.delete",
        "job",
        job.id,
        org_id=project.org_id,
        details={"name": job.name},
    )
    await _notify(session)


@dataclass(frozen=True)
class Desired:
    """What the reconciler applies for a job, or why it cannot."""

    spec: CronJobSpec | None
    env: dict[str, str]
    problem: str | None = None


async def image_of_service(session: AsyncSession, project: Project, name: str) -> str | None:
    """The image a service runs: its newest healthy deployment's, else its configured one."""
    service = await session.scalar(
        select(Service).where(
            Service.project_id == project.id, Service.name == name, Service.deleted_at.is_(None)
        )
    )
    if service is None:
        return None
    image = await session.scalar(
        select(Deployment.image)
        .where(Deployment.service_id == service.id, Deployment.status == "healthy")
        .order_by(Deployment.finished_at.desc())
        .limit(1)
    )
    return image or service.image


async def desired(session: AsyncSession, job: Job, project: Project, org: Organization) -> Desired:
    """The job's CronJob spec and effective environment as stored now."""
    cfg = config_of(job)
    image = cfg.image
    if cfg.image_from_service is not None:
        image = await image_of_service(session, project, cfg.image_from_service)
        if image is None:
            return Desired(
                None, {}, f"service {cfg.image_from_service!r} (image_from_service) is gone"
            )
    assert image is not None
    env = (await effective_env(session, env_of(job), job_id=job.id)).values
    spec = CronJobSpec(
        org_slug=org.slug,
        project_slug=project.slug,
        namespace=namespace_of(project),
        job=job.name,
        job_id=str(job.id),
        image=image,
        schedule=cfg.schedule,
        time_zone=cfg.time_zone,
        command=cfg.command,
        args=cfg.args,
        env_keys=tuple(sorted(env)),
        resources=cfg.resources,
        concurrency_policy=cfg.concurrency_policy,
        retries=cfg.retries,
        deadline_seconds=cfg.deadline_seconds,
        suspended=cfg.suspended,
    )
    return Desired(spec, env)
