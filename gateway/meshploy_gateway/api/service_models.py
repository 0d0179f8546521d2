"""Request and response models of services and deployments.

Environment values go in and never come back: responses list variable names with a masked
value.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field

from meshploy_core.deploys.models import Deployment, DeploymentEvent
from meshploy_core.kube.spec import (
    CPU,
    DNS_LABEL,
    MEMORY,
    HealthCheck,
    Resources,
    dns_label_problem,
)
from meshploy_core.services.catalog import ServiceConfig, config_of, env_of
from meshploy_core.services.models import Service
from meshploy_core.web.fields import NO_CONTROL, Input

MASK: Literal["********"] = "********"


def _service_name(value: str) -> str:
    problem = dns_label_problem(value, "name")
    if problem is not None:
        raise ValueError(problem)
    return value


def _matches(pattern: re.Pattern[str], message: str) -> AfterValidator:
    def check(value: str) -> str:
        if not pattern.match(value):
            raise ValueError(message)
        return value

    return AfterValidator(check)


ServiceName = Annotated[
    str,
    Field(
        description="DNS label starting with a letter: a-z, 0-9 and '-', at most 63.",
        json_schema_extra={"pattern": DNS_LABEL.pattern, "minLength": 1, "maxLength": 63},
    ),
    AfterValidator(_service_name),
]
Image = Annotated[
    str,
    Field(
        min_length=1,
        max_length=512,
        pattern=NO_CONTROL,
        examples=["nginx:1.27", "registry.example.com/team/api:v2"],
    ),
]
Arg = Annotated[str, Field(max_length=4096, pattern=NO_CONTROL)]
EnvName = Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
EnvValue = Annotated[str, Field(max_length=32 * 1024)]
CpuQuantity = Annotated[
    str,
    Field(max_length=32, json_schema_extra={"pattern": CPU.pattern}, examples=["250m", "1.5"]),
    _matches(CPU, "must be a CPU quantity like 250m or 1.5"),
]
MemoryQuantity = Annotated[
    str,
    Field(max_length=32, json_schema_extra={"pattern": MEMORY.pattern}, examples=["256Mi"]),
    _matches(MEMORY, "must be a memory quantity like 256Mi or 1Gi"),
]
UrlPath = Annotated[
    str,
    Field(max_length=1024, json_schema_extra={"pattern": r"^/[^\s\x00-\x1f\x7f]*$"}),
    _matches(re.compile(r"^/[^\s\x00-\x1f\x7f]*$"), "must be a URL path starting with /"),
]


class HealthCheckIn(Input):
    """An HTTP check; it becomes the readiness and liveness probes."""

    path: UrlPath = "/"
    port: int | None = Field(None, ge=1, le=65535, description="Defaults to the service port.")
    initial_delay_seconds: int = Field(0, ge=0, le=3600)
    period_seconds: int = Field(5, ge=1, le=300)
    timeout_seconds: int = Field(2, ge=1, le=300)
    failure_threshold: int = Field(3, ge=1, le=300)


class ResourcesIn(Input):
    """CPU (``250m``, ``1``) and memory (``256Mi``, ``1Gi``) requests and limits."""

    cpu_request: CpuQuantity | None = None
    cpu_limit: CpuQuantity | None = None
    memory_request: MemoryQuantity | None = None
    memory_limit: MemoryQuantity | None = None


class ServiceSpecIn(Input):
    """What to run and how (everything except the name and the environment)."""

    image: Image
    port: int = Field(ge=1, le=65535, description="The port the container listens on.")
    replicas: int = Field(1, ge=0, le=50)
    command: list[Arg] = Field(default_factory=list, max_length=64)
    args: list[Arg] = Field(default_factory=list, max_length=64)
    resources: ResourcesIn = Field(default_factory=ResourcesIn)
    health_check: HealthCheckIn | None = None
    expose: bool = Field(True, description="Route public traffic to it through the proxy.")
    hostname: str | None = Field(
        None,
        max_length=253,
        pattern=r"^[a-z0-9.-]+$",
        description="Public hostname; default <service>-<project>.<domain>.",
    )
    progress_deadline_seconds: int = Field(600, ge=10, le=3600)

    def config(self) -> ServiceConfig:
        """The domain form."""
        hc = self.health_check
        return ServiceConfig(
            image=self.image,
            port=self.port,
            replicas=self.replicas,
            command=tuple(self.command),
            args=tuple(self.args),
            resources=Resources(**self.resources.model_dump()),
            health_check=HealthCheck(**hc.model_dump()) if hc else None,
            expose=self.expose,
            hostname=self.hostname,
            progress_deadline_seconds=self.progress_deadline_seconds,
        )


class ServiceIn(ServiceSpecIn):
    """A new service."""

    name: ServiceName
    env: dict[EnvName, EnvValue] = Field(
        default_factory=dict, max_length=200, description="Stored encrypted; never returned."
    )


class EnvVarOut(BaseModel):
    """A variable's name; its value is always masked."""

    name: str
    value: Literal["********"] = MASK


class EnvIn(Input):
    """Variables to set (added or replaced) and names to remove."""

    set: dict[EnvName, EnvValue] = Field(default_factory=dict, max_length=200)
    unset: list[EnvName] = Field(default_factory=list, max_length=200)


class EnvOut(BaseModel):
    """The service's variables, values masked."""

    variables: list[EnvVarOut]

    @classmethod
    def of(cls, names: list[str]) -> EnvOut:
        return cls(variables=[EnvVarOut(name=n) for n in sorted(names)])


class ServiceOut(BaseModel):
    """A service as configured (changes take effect at the next deploy)."""

    id: uuid.UUID
    project_id: uuid.UUID
    name: str
    image: str
    port: int
    replicas: int
    command: list[str]
    args: list[str]
    resources: dict[str, str | None]
    health_check: dict[str, Any] | None
    expose: bool
    hostname: str | None
    progress_deadline_seconds: int
    env: list[EnvVarOut]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, service: Service) -> ServiceOut:
        cfg = config_of(service)
        return cls(
            id=service.id,
            project_id=service.project_id,
            name=service.name,
            image=cfg.image,
            port=cfg.port,
            replicas=cfg.replicas,
            command=list(cfg.command),
            args=list(cfg.args),
            resources=dict(cfg.resources.__dict__),
            health_check=dict(cfg.health_check.__dict__) if cfg.health_check else None,
            expose=cfg.expose,
            hostname=service.hostname,
            progress_deadline_seconds=cfg.progress_deadline_seconds,
            env=[EnvVarOut(name=n) for n in sorted(env_of(service))],
            created_at=service.created_at,
            updated_at=service.updated_at,
        )


class DeployIn(Input):
    """Deploy the service as configured, optionally switching to another image first."""

    image: Image | None = None


DeploymentStatus = Literal["queued", "deploying", "healthy", "failed", "cancelled", "superseded"]


class DeploymentOut(BaseModel):
    """One deploy: what it applied and how it ended."""

    id: uuid.UUID
    service_id: uuid.UUID
    image: str
    status: DeploymentStatus
    reason: str | None
    triggered_by: uuid.UUID | None
    rollback_of: uuid.UUID | None
    env: list[EnvVarOut]
    replicas: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, dep: Deployment) -> DeploymentOut:
        snapshot = dep.spec_snapshot or {}
        return cls(
            id=dep.id,
            service_id=dep.service_id,
            image=dep.image,
            status=dep.status,
            reason=dep.reason,
            triggered_by=dep.triggered_by,
            rollback_of=dep.rollback_of,
            env=[EnvVarOut(name=n) for n in snapshot.get("env_keys") or []],
            replicas=int(snapshot.get("replicas", 1)),
            created_at=dep.created_at,
            started_at=dep.started_at,
            finished_at=dep.finished_at,
        )


class LogQuery(BaseModel):
    """Log lines after event id ``after``; ``wait`` seconds for new ones (long poll)."""

    after: int = Field(0, ge=0)
    wait: float = Field(0, ge=0, le=30, description="Seconds to wait for new lines.")
    limit: int = Field(500, ge=1, le=1000)


class LogLineOut(BaseModel):
    """One line of a deployment's log."""

    id: int
    at: datetime
    source: Literal["meshploy", "kubernetes"]
    level: str
    message: str

    @classmethod
    def of(cls, event: DeploymentEvent) -> LogLineOut:
        return cls(
            id=event.id,
            at=event.created_at,
            source=event.source,
            level=event.level,
            message=event.message,
        )


class LogOut(BaseModel):
    """A batch of log lines; continue with ``?after=<next_after>`` until ``done``."""

    items: list[LogLineOut]
    next_after: int
    done: bool = Field(description="The deployment has ended and every line was returned.")
    status: DeploymentStatus
