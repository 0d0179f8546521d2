"""Request and response models of jobs and their runs.

Environment values go in and never come back; the runs' output is read with its own
permission (``job:logs``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field

from meshploy_core.jobs.catalog import JobConfig, config_of, env_of
from meshploy_core.jobs.models import Job, JobRun
from meshploy_core.kube.spec import Resources, dns_label_problem
from meshploy_core.web.fields import NO_CONTROL, Input
from meshploy_gateway.api.service_models import (
    Arg,
    EnvName,
    EnvValue,
    EnvVarOut,
    Image,
    ResourcesIn,
    ServiceName,
)


def _job_name(value: str) -> str:
    problem = dns_label_problem(value, "name")
    if problem is not None:
        raise ValueError(problem)
    return value


JobName = Annotated[
    str,
    Field(
        description="DNS label starting with a letter: a-z, 0-9 and '-', at most 52.",
        json_schema_extra={"pattern": r"^[a-z]([a-z0-9-]{0,50}[a-z0-9])?$"},
        min_length=1,
        max_length=52,
    ),
    AfterValidator(_job_name),
]
GroupName = Annotated[str, Field(min_length=1, max_length=63, pattern=r"^[a-z][a-z0-9-]*$")]
ConcurrencyPolicy = Literal["Allow", "Forbid", "Replace"]


class JobSpecIn(Input):
    """What to run, when and how (everything except the name and the environment)."""

    schedule: str = Field(
        min_length=1,
        max_length=100,
        pattern=NO_CONTROL,
        description="Cron schedule, five fields (minute hour day-of-month month day-of-week) "
        "or @hourly, @daily, @weekly, @monthly, @yearly.",
        examples=["30 2 * * *", "*/15 * * * *", "@daily"],
    )
    time_zone: str = Field(
        "UTC", min_length=1, max_length=64, pattern=NO_CONTROL, examples=["Europe/Paris"]
    )
    image: Image | None = Field(None, description="The image to run (or image_from_service).")
    image_from_service: ServiceName | None = Field(
        None, description="Run the image of this service of the project (its current deploy)."
    )
    command: list[Arg] = Field(default_factory=list, max_length=64)
    args: list[Arg] = Field(default_factory=list, max_length=64)
    resources: ResourcesIn = Field(default_factory=ResourcesIn)
    concurrency_policy: ConcurrencyPolicy = Field(
        "Forbid", description="When a run is due while one still runs: Allow, Forbid, Replace."
    )
    retries: int = Field(0, ge=0, le=10, description="Attempts after a failed one.")
    deadline_seconds: int = Field(
        3600, ge=10, le=604800, description="A run still going after this long is failed."
    )
    suspended: bool = Field(False, description="No scheduled runs (manual ones still work).")
    variable_groups: list[GroupName] = Field(
        default_factory=list, max_length=20, description="Names, in order: later ones win."
    )

    def config(self) -> JobConfig:
        """The domain form."""
        return JobConfig(
            schedule=self.schedule,
            image=self.image,
            image_from_service=self.image_from_service,
            command=tuple(self.command),
            args=tuple(self.args),
            time_zone=self.time_zone,
            resources=Resources(**self.resources.model_dump()),
            concurrency_policy=self.concurrency_policy,
            retries=self.retries,
            deadline_seconds=self.deadline_seconds,
            suspended=self.suspended,
            variable_groups=tuple(self.variable_groups),
        )


class JobIn(JobSpecIn):
    """A new job."""

    name: JobName
    env: dict[EnvName, EnvValue] = Field(
        default_factory=dict, max_length=200, description="Stored encrypted; never returned."
    )


class JobOut(BaseModel):
    """A job as configured."""

    id: uuid.UUID
    project_id: uuid.UUID
    name: str
    schedule: str
    time_zone: str
    image: str | None
    image_from_service: str | None
    command: list[str]
    args: list[str]
    resources: dict[str, str | None]
    concurrency_policy: str
    retries: int
    deadline_seconds: int
    suspended: bool
    variable_groups: list[str]
    env: list[EnvVarOut]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, job: Job, groups: list[str]) -> JobOut:
        cfg = config_of(job, groups)
        return cls(
            id=job.id,
            project_id=job.project_id,
            name=job.name,
            schedule=cfg.schedule,
            time_zone=cfg.time_zone,
            image=cfg.image,
            image_from_service=cfg.image_from_service,
            command=list(cfg.command),
            args=list(cfg.args),
            resources=dict(cfg.resources.__dict__),
            concurrency_policy=cfg.concurrency_policy,
            retries=cfg.retries,
            deadline_seconds=cfg.deadline_seconds,
            suspended=cfg.suspended,
            variable_groups=groups,
            env=[EnvVarOut(name=n) for n in sorted(env_of(job))],
            created_at=job.created_at,
            updated_at=job.updated_at,
        )


RunStatus = Literal["pending", "running", "succeeded", "failed"]


class RunOut(BaseModel):
    """One run of a job and how it ended."""

    id: uuid.UUID
    job_id: uuid.UUID
    trigger: Literal["schedule", "manual"]
    status: RunStatus
    reason: str | None
    exit_code: int | None
    kube_name: str | None = Field(description="The Kubernetes Job's name.")
    triggered_by: uuid.UUID | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    log_expires_at: datetime | None

    @classmethod
    def of(cls, run: JobRun) -> RunOut:
        return cls(
            id=run.id,
            job_id=run.job_id,
            trigger=run.trigger,
            status=run.status,
            reason=run.reason,
            exit_code=run.exit_code,
            kube_name=run.kube_name,
            triggered_by=run.triggered_by,
            created_at=run.created_at,
            started_at=run.started_at,
            finished_at=run.finished_at,
            log_expires_at=run.log_expires_at,
        )


class RunLogOut(BaseModel):
    """A run's output, kept after its pod is gone (until ``log_expires_at``)."""

    run: RunOut
    output: str | None = Field(description="What the run's last pod printed (stdout, stderr).")
    note: str | None = Field(description="Why there is no output, when there is none.")
